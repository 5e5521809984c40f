"""CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant."""

from __future__ import annotations

import re
import secrets
from typing import Any

from trent.api.authorize import (
    authorize_iam,
    authorize_retire,
    encryption_context_keys,
    find_key_unauthorized,
    hosted_principal_exists,
    key_and_decision_for,
    key_for,
    verified_tokens,
)
from trent.api.common import page
from trent.api.context import Request, RequestContext, Response, Services, record_change
from trent.api.crypto_common import finish_dry_run
from trent.domain.authz import allowing_grant_id
from trent.domain.errors import (
    AccessDeniedException,
    InvalidGrantIdException,
    LimitExceededException,
    NotFoundException,
    ValidationException,
)
from trent.domain.grants import (
    MAX_GRANTS_PER_KEY,
    Constraints,
    Grant,
    check_grant_for_key,
    check_grant_request,
)
from trent.domain.keys import Key

GRANT_ID_RE = re.compile(r"[0-9a-f]{64}")
DEFAULT_LIST_LIMIT = 50
MAX_PAGE = 100
_NOT_AWS_RESOURCE = {"kms:GrantIsForAWSResource": False}


def _check_grant_id(grant_id: str) -> None:
    if not GRANT_ID_RE.fullmatch(grant_id):
        raise InvalidGrantIdException(f"Invalid grant ID {grant_id}")


def _require_key_usable_for_grants(key: Key) -> None:
    key.require_state_for("CreateGrant")


def _check_principals_exist(services: Services, *principals: str | None) -> None:
    """A principal in an account this server hosts must exist there (docs/decisions.md D14)."""
    for principal in principals:
        if principal is not None and not hosted_principal_exists(services, principal):
            raise ValidationException(f"{principal} is not a valid principal: it does not exist.")


def create_grant(services: Services, ctx: RequestContext, req: Request) -> Response:
    # What reads nothing but the request may answer before the decision; the rest only after it.
    constraints = Constraints.from_api(req.get("Constraints"))
    grantee = req.get("GranteePrincipal")
    retiring = req.get("RetiringPrincipal")
    grantee_service = req.get("GranteeServicePrincipal")
    retiring_service = req.get("RetiringServicePrincipal")
    name = req.get("Name")
    tokens = req.get("GrantTokens", ())
    operations = check_grant_request(
        list(req["Operations"]), constraints, grantee, grantee_service, retiring, retiring_service
    )
    context: dict[str, Any] = {**_NOT_AWS_RESOURCE, "kms:GrantOperations": sorted(operations)}
    if constraints is not None and constraints.context:
        context.update(encryption_context_keys(constraints.context))
    for condition_key, value in (
        ("kms:GranteePrincipal", grantee),
        ("kms:GranteeServicePrincipal", grantee_service),
        ("kms:RetiringPrincipal", retiring),
        ("kms:GrantConstraintType", constraints.constraint_type if constraints else None),
        ("kms:GrantConstraintSourceArn", constraints.source_arn if constraints else None),
    ):
        if value is not None:
            context[condition_key] = value
    # Through a policy, kms:CreateGrant allows any grant (limited by conditions); through a grant, only a
    # narrower one (docs/decisions.md D9, D11).
    key, decision = key_and_decision_for(
        services.reads,
        services,
        ctx,
        req["KeyId"],
        action="kms:CreateGrant",
        facts=context,
        tokens=tokens,
        child=(operations, constraints),
    )
    check_grant_for_key(key, operations, constraints)
    _check_principals_exist(services, grantee, retiring)
    _require_key_usable_for_grants(key)
    finish_dry_run(req)

    now = services.clock()
    candidate = Grant(
        grant_id=secrets.token_hex(32),
        key_id=key.key_id,
        key_account=key.account,
        key_region=key.region,
        operations=operations,
        issuing_account=ctx.caller.account,
        creation_date=now,
        name=name,
        grantee_principal=grantee,
        grantee_service_principal=grantee_service,
        retiring_principal=retiring,
        retiring_service_principal=retiring_service,
        constraints=constraints,
        # Lineage (docs/grants.md): the grant whose CreateGrant permission allowed this call, if a grant did.
        parent_grant_id=allowing_grant_id(decision),
    )
    with services.store.transaction() as tx:
        # Reading the key for update serializes CreateGrant per key, so the Name check and the limit are exact.
        current = tx.keys.get(key.account, key.region, key.key_id, for_update=True)
        if current is None:
            raise NotFoundException(f"Key '{key.arn}' does not exist")
        _require_key_usable_for_grants(current)
        grant = None
        if name is not None:
            grant = next((g for g in tx.grants.active_named(key.ref, name) if g.is_retry_of(candidate)), None)
        if grant is None:
            if not tx.grants.reserve_slot(key.ref, MAX_GRANTS_PER_KEY):
                raise LimitExceededException(
                    f"The key {key.arn} has reached its limit of {MAX_GRANTS_PER_KEY} grants: "
                    "retire or revoke grants before creating more."
                )
            tx.grants.insert(candidate)
            grant = candidate
        # A retry returns the grant created first, and its event names that grant's parent (never a token).
        if ctx.audit is not None and grant.parent_grant_id is not None:
            ctx.audit.additional = {"parentGrantId": grant.parent_grant_id}
        record_change(services, tx, ctx, {"GrantId": grant.grant_id, "KeyId": key.arn})
    return {"GrantToken": services.tokens.mint(grant.grant_id, grant.key_id), "GrantId": grant.grant_id}


def _page_limit(req: Request) -> int:
    return min(int(req.get("Limit", DEFAULT_LIST_LIMIT)), MAX_PAGE)


def list_grants(services: Services, ctx: RequestContext, req: Request) -> Response:
    if "GranteeServicePrincipal" in req:
        # Filtering by service principal is for callers that are AWS services, which
        # Trent has none of; as ListRetirableGrants' RetiringServicePrincipal.
        if "GranteePrincipal" in req:
            raise ValidationException("Only one of GranteePrincipal or GranteeServicePrincipal may be specified.")
        raise AccessDeniedException("GranteeServicePrincipal is only usable by callers in a service principal.")
    key = key_for(services.reads, services, ctx, req["KeyId"], action="kms:ListGrants", facts=_NOT_AWS_RESOURCE)
    grant_id = req.get("GrantId")
    if grant_id is not None:
        _check_grant_id(grant_id)
    grantee = req.get("GranteePrincipal")
    scope = f"{key.ref}:{grant_id or ''}:{grantee or ''}"
    rows, more = page(
        services,
        "grants",
        scope,
        {**req, "Limit": _page_limit(req)},
        lambda after, limit: services.store.reader.list_grants(key.ref, int(after or 0), limit, grant_id, grantee),
        lambda row: str(row[0]),
        default_limit=DEFAULT_LIST_LIMIT,
        max_limit=MAX_PAGE,
    )
    return {"Grants": [grant.list_entry() for _, grant in rows], **more}


def list_retirable_grants(services: Services, ctx: RequestContext, req: Request) -> Response:
    retiring = req.get("RetiringPrincipal")
    if (retiring is None) == (req.get("RetiringServicePrincipal") is None):
        raise ValidationException("Exactly one of RetiringPrincipal or RetiringServicePrincipal must be specified.")
    if retiring is None:
        raise AccessDeniedException("RetiringServicePrincipal is only usable by callers in a service principal.")
    # IAM-only, and the resource an identity policy names is the retiring principal, which must be of the
    # caller's account (docs/authorization.md, "Actions without a key policy").
    authorize_iam(services, ctx, "kms:ListRetirableGrants", retiring)
    with services.store.transaction(write=False) as tx:
        rows, more = page(
            services,
            "retirable",
            f"{ctx.region}:{retiring}",
            {**req, "Limit": _page_limit(req)},
            lambda after, limit: tx.grants.retirable(ctx.region, retiring, int(after or 0), limit),
            lambda row: str(row[0]),
            default_limit=DEFAULT_LIST_LIMIT,
            max_limit=MAX_PAGE,
        )
    return {"Grants": [grant.list_entry() for _, grant in rows], **more}


def _grant_named(services: Services, key: Key, grant_id: str) -> Grant:
    _check_grant_id(grant_id)
    grant = services.store.reader.grant(grant_id)
    if grant is None or grant.key_ref != key.ref or grant.deleted_at is not None:
        raise NotFoundException(f"Grant ID {grant_id} not found")
    return grant


def retire_grant(services: Services, ctx: RequestContext, req: Request) -> Response:
    token = req.get("GrantToken")
    key: Key | None
    if token is not None:
        grant_id = verified_tokens(services, [token])[0]
        grant = services.store.reader.grant(grant_id)
        if grant is None or grant.deleted_at is not None:
            raise NotFoundException(f"Grant ID {grant_id} not found")
        key = services.reads.get_key_by_ref(grant.key_ref)
    elif "KeyId" in req and "GrantId" in req:
        # RetireGrant is decided on the grant, by the grant's own rules (authorize_retire), not on the key.
        key = find_key_unauthorized(services.reads, services, ctx, req["KeyId"])
        grant = _grant_named(services, key, req["GrantId"])
    else:
        raise ValidationException("Specify either a GrantToken, or a KeyId and a GrantId.")
    authorize_retire(services, ctx, grant, key)
    finish_dry_run(req)
    if ctx.audit is not None:
        ctx.audit.request = None  # as CloudTrail: RetireGrant names its grant in additionalEventData only
        ctx.audit.additional = {"grantId": grant.grant_id}
        ctx.audit.add_key(grant.key_arn, grant.key_account)
    _delete(services, ctx, grant)
    return {}


def revoke_grant(services: Services, ctx: RequestContext, req: Request) -> Response:
    key = key_for(services.reads, services, ctx, req["KeyId"], action="kms:RevokeGrant", facts=_NOT_AWS_RESOURCE)
    grant = _grant_named(services, key, req["GrantId"])
    finish_dry_run(req)
    _delete(services, ctx, grant)
    return {}


def _delete(services: Services, ctx: RequestContext, grant: Grant) -> None:
    now = services.clock()
    with services.store.transaction() as tx:
        if not tx.grants.delete(grant, now):
            raise NotFoundException(f"Grant ID {grant.grant_id} not found")
        record_change(services, tx, ctx)
