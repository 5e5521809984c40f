"""IAM on Trent's endpoint: the Query protocol of boto3's and the AWS CLI's `iam` clients, with XML responses.

A request is a form (`Action=CreateUser&Version=2010-05-08&UserName=...`) signed for the service `iam` in any
Region Trent serves (IAM is global: identities belong to an account, not a Region). The form is turned into the
operation's input with botocore's own `iam` model (`edge/query_protocol.py`), validated like a KMS request
(`edge/validation.py`, AWS's messages), and answered by `trent.api.iam`.
"""

from __future__ import annotations

import re
from typing import Any

from trent.api.context import RequestContext, Services
from trent.api.iam import IAM_HANDLERS, IAM_READ_ONLY
from trent.domain.errors import KMSError, ValidationException
from trent.edge.errors import query_error_response
from trent.edge.query_protocol import QueryFormatError, parse_request, serialize_response
from trent.edge.validation import RequestValidator, service_model

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"
_ACTION_RE = re.compile(r"[A-Za-z]{1,64}")
#: Request members an audit event never records.
_UNAUDITED = frozenset({"PolicyDocument", "AssumeRolePolicyDocument"})


class InvalidAction(KMSError):
    pass


def event_name(params: dict[str, str]) -> str:
    """The audit event name of a request: its Action, if it looks like one (it is the caller's text)."""
    action = params.get("Action", "")
    return action if _ACTION_RE.fullmatch(action) else "-"


def read_only(event: str) -> bool:
    return event in IAM_READ_ONLY


def audited_parameters(request: dict[str, Any]) -> dict[str, Any]:
    """requestParameters as CloudTrail writes them for IAM: lowerCamelCase members, no policy texts."""
    return {name[:1].lower() + name[1:]: value for name, value in request.items() if name not in _UNAUDITED}


class IamEndpoint:
    def __init__(self) -> None:
        self._model = service_model("iam")
        self._validator = RequestValidator(self._model)

    def handle(self, services: Services, ctx: RequestContext, form: dict[str, str]) -> bytes:
        """The XML answer to one IAM request. :raises KMSError: with IAM's code, for the caller."""
        action = form.get("Action", "")
        if not self._validator.has_operation(action):
            raise InvalidAction(f"Could not find operation {action} for version 2010-05-08")
        handler = IAM_HANDLERS.get(action)
        if handler is None:
            raise InvalidAction(f"Trent does not support the IAM action {action}.")
        operation = self._model.operation_model(action)
        try:
            parsed = parse_request(operation, form)
        except QueryFormatError as exc:
            raise ValidationException(f"1 validation error detected: {exc}") from None
        request = self._validator.validate(action, parsed)
        if ctx.audit is not None:
            ctx.audit.request = audited_parameters(request)
        result = handler(services, ctx, request)
        return serialize_response(operation, result, ctx.request_id)


def error_response(error: KMSError, request_id: str) -> tuple[int, bytes]:
    return query_error_response(error, NAMESPACE, request_id)
