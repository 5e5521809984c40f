"""STS on the KMS endpoint: the query protocol boto3's `sts` client speaks, with XML responses.

Only GetCallerIdentity and AssumeRole are served; both need a SigV4 signature scoped to `sts`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from trent.api.authorize import trust_allows
from trent.api.context import RequestContext, Services
from trent.api.identity import assume_role
from trent.domain.errors import KMSError, ValidationException
from trent.edge.errors import query_error_response

NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
SESSION_NAME_RE = re.compile(r"[\w+=,.@-]{2,64}")
_ACTION_RE = re.compile(r"[A-Za-z]{1,64}")
ROLE_ARN_RE = re.compile(r"arn:aws:iam::[0-9]{12}:role/[\w+=,.@/-]{1,64}")

#: STS error codes differ from KMS's for the same condition.
#: Request parameters that audit events record (never a session policy's text or anything secret).
_AUDITED_PARAMETERS = ("RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId")


def audited_parameters(params: dict[str, str]) -> dict[str, str | int]:
    """What an audit event records of a request: named members only, DurationSeconds as a number."""
    out: dict[str, str | int] = {name: params[name] for name in _AUDITED_PARAMETERS if name in params}
    duration = out.get("DurationSeconds")
    if isinstance(duration, str) and duration.isdigit() and len(duration) < 10:
        out["DurationSeconds"] = int(duration)
    return out


def event_name(params: dict[str, str]) -> str:
    """The audit event name of a request: its Action, if it looks like one (it is the caller's text)."""
    action = params.get("Action", "")
    return action if _ACTION_RE.fullmatch(action) else "-"


def read_only(event: str) -> bool:
    """CloudTrail's readOnly for an STS event: AssumeRole creates credentials, the rest change nothing."""
    return event != "AssumeRole"


def parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ValidationException("The request body is not valid form data.") from None
    return {name: values[-1] for name, values in pairs.items()}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _response(action: str, result: str, request_id: str) -> bytes:
    return (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()


def error_response(error: KMSError, request_id: str) -> tuple[int, bytes]:
    return query_error_response(error, NAMESPACE, request_id)


def handle(services: Services, ctx: RequestContext, params: dict[str, str]) -> bytes:
    caller, request_id = ctx.caller, ctx.request_id
    action = params.get("Action", "")
    if action == "GetCallerIdentity":
        result = (
            f"<Arn>{escape(caller.arn)}</Arn><UserId>{escape(caller.user_id)}</UserId>"
            f"<Account>{caller.account}</Account>"
        )
        return _response(action, result, request_id)
    if action == "AssumeRole":
        return _assume_role(services, ctx, params)
    raise ValidationException(f"Trent's STS does not support the action {action!r}.")


def _assume_role(services: Services, ctx: RequestContext, params: dict[str, str]) -> bytes:
    role = params.get("RoleArn", "")
    session = params.get("RoleSessionName", "")
    errors = []
    if not ROLE_ARN_RE.fullmatch(role):
        errors.append(f"Value '{role}' at 'roleArn' failed to satisfy constraint: Member must be a role ARN")
    if not SESSION_NAME_RE.fullmatch(session):
        errors.append(
            f"Value '{session}' at 'roleSessionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )
    try:
        duration = int(params.get("DurationSeconds", "3600"))
    except ValueError:
        duration = -1
    if not 900 <= duration <= 43200:
        errors.append(
            f"Value '{params.get('DurationSeconds')}' at 'durationSeconds' failed to satisfy constraint: "
            "Member must have value between 900 and 43200"
        )
    if errors:
        count = len(errors)
        raise ValidationException(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors))
    if any(name == "Policy" or name.startswith("PolicyArns.") for name in params):
        # Trent cannot yet narrow a session to a session policy; issuing the role's whole permissions to a
        # caller who asked for less would be worse than refusing.
        raise ValidationException("Session policies (Policy, PolicyArns) are not supported by Trent.")
    external_id = params.get("ExternalId")
    creds = assume_role(
        services.store,
        ctx.caller,
        role,
        session,
        duration,
        services.clock(),
        lambda principal: trust_allows(services, ctx, principal, external_id=external_id),
    )
    result = (
        f"<AssumedRoleUser><Arn>{escape(creds.assumed_role_arn)}</Arn>"
        f"<AssumedRoleId>{escape(creds.assumed_role_id)}</AssumedRoleId></AssumedRoleUser>"
        f"<Credentials><AccessKeyId>{creds.access_key_id}</AccessKeyId>"
        f"<SecretAccessKey>{escape(creds.secret_access_key)}</SecretAccessKey>"
        f"<SessionToken>{escape(creds.session_token)}</SessionToken>"
        f"<Expiration>{_iso(creds.expiration)}</Expiration></Credentials>"
    )
    return _response("AssumeRole", result, ctx.request_id)
