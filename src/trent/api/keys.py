"""CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, Enable/DisableKey, key deletion, key policies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from trent.api.authorize import (
    authorize_iam,
    check_key_policy_document,
    deletion_due,
    key_for,
    lockout_allows,
    tag_context,
)
from trent.api.common import key_metadata, page
from trent.api.context import Request, RequestContext, Response, Services, record_change
from trent.api.imports import imported_facts, settle_state
from trent.api.multi_region import has_replicas, related_keys
from trent.api.tags import check_new_tags
from trent.crypto.keygen import generate_material, new_material_id
from trent.domain.errors import (
    CustomKeyStoreNotFoundException,
    MalformedPolicyDocumentException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
    check_storable,
)
from trent.domain.ids import new_key_id
from trent.domain.keys import (
    ORIGIN_AWS_KMS,
    ORIGIN_EXTERNAL,
    Key,
    KeyMaterial,
    KeyState,
    default_key_policy,
    validate_spec_and_usage,
)
from trent.domain.policy import Policy

DEFAULT_PENDING_WINDOW_DAYS = 30


def create_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    if "KeySpec" in req and "CustomerMasterKeySpec" in req:
        raise ValidationException(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec is deprecated."
        )
    spec, usage = validate_spec_and_usage(
        req.get("KeySpec") or req.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT", req.get("KeyUsage")
    )
    origin = req.get("Origin", ORIGIN_AWS_KMS)
    if origin not in (ORIGIN_AWS_KMS, ORIGIN_EXTERNAL):
        raise UnsupportedOperationException(f"Trent does not support keys with Origin {origin}.")
    if origin == ORIGIN_EXTERNAL and spec.name == "ECC_NIST_EDWARDS25519":
        # AWS documents no import format for it (docs/decisions.md D22).
        raise UnsupportedOperationException("KeySpec ECC_NIST_EDWARDS25519 does not support Origin EXTERNAL.")
    if "CustomKeyStoreId" in req:
        raise CustomKeyStoreNotFoundException("The specified custom key store does not exist.")
    multi_region = bool(req.get("MultiRegion", False))
    account = ctx.caller.account
    policy = req.get("Policy")
    tags = check_new_tags(req.get("Tags", []), existing={})
    bypass = bool(req.get("BypassPolicyLockoutSafetyCheck", False))
    request_facts = {
        "kms:KeySpec": spec.name,
        "kms:KeyUsage": str(usage),
        "kms:KeyOrigin": origin,
        "kms:MultiRegion": multi_region,
        **({"kms:MultiRegionKeyType": "PRIMARY"} if multi_region else {}),
        "kms:BypassPolicyLockoutSafetyCheck": bypass,
        **tag_context(tags),
    }
    authorize_iam(services, ctx, "kms:CreateKey", "*", facts=request_facts)
    if tags:  # the same request, so the same facts (found by the differential tests: it saw the tags only)
        authorize_iam(services, ctx, "kms:TagResource", "*", facts=request_facts)
    # After the decision: it tells whether the principals the policy names exist.
    parsed_policy = check_key_policy_document(services, policy) if policy is not None else None
    now = services.clock()
    key = Key(
        key_id=new_key_id(multi_region=multi_region),
        account=account,
        region=ctx.region,
        spec_name=spec.name,
        usage=usage,
        # A key of imported material waits for it, and has no version of it yet.
        state=KeyState.PENDING_IMPORT if origin == ORIGIN_EXTERNAL else KeyState.ENABLED,
        description=check_storable(req.get("Description", ""), "description"),
        creation_date=now,
        origin=origin,
        policy=policy if policy is not None else default_key_policy(account),
        current_version=0 if origin == ORIGIN_EXTERNAL else 1,
        primary_region=ctx.region if multi_region else None,
    )
    if parsed_policy is not None and not bypass:
        new_key_facts = {**{f"aws:ResourceTag/{k}": v for k, v in tags.items()}, "kms:ResourceAliases": []}
        _check_lockout(services, ctx, key, parsed_policy, resource_facts=new_key_facts)
    material = None if key.external else KeyMaterial(key.ref, 1, new_material_id(), now, None, generate_material(spec))
    response = {"KeyMetadata": key_metadata(key, material.material_id if material is not None else None, related=[key])}
    if ctx.audit is not None:
        ctx.audit.add_key(key.arn, key.account)
    with services.store.transaction() as tx:
        tx.keys.insert(key, material)
        tx.tags.put(key.ref, tags)
        record_change(services, tx, ctx, response)
    return response


def describe_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    key = key_for(
        services.reads,
        services,
        ctx,
        req["KeyId"],
        action="kms:DescribeKey",
        allow_alias=True,
        tokens=req.get("GrantTokens", ()),
    )
    related: list[Key] = []
    if key.multi_region:
        with services.store.transaction(write=False) as tx:
            related = related_keys(tx, key, services.clock())
    if key.external:
        with services.store.transaction(write=False) as tx:
            imported = imported_facts(tx, key, services.clock())
        return {"KeyMetadata": key_metadata(key, None, imported=imported, related=related)}
    material_id = services.keyring.current(key).material_id if key.spec.is_symmetric else None
    return {"KeyMetadata": key_metadata(key, material_id, related=related)}


def _check_lockout(
    services: Services, ctx: RequestContext, key: Key, policy: Policy, *, resource_facts: dict[str, Any] | None = None
) -> None:
    """AWS's key policy lockout safety check: the caller must be able to change the policy again."""
    if not lockout_allows(services, ctx, key, policy, resource_facts=resource_facts):
        raise MalformedPolicyDocumentException(
            "The new key policy will not allow you to update the key policy in the future."
        )


def list_keys(services: Services, ctx: RequestContext, req: Request) -> Response:
    authorize_iam(services, ctx, "kms:ListKeys", "*")
    account = ctx.caller.account
    scope = f"{account}:{ctx.region}"
    with services.store.transaction(write=False) as tx:
        keys, more = page(
            services,
            "keys",
            scope,
            req,
            lambda after, limit: tx.keys.page(account, ctx.region, after, limit),
            lambda key: key.ref,  # the store's order: key IDs, and `<mrk-id>/<region>` for multi-Region keys
            max_limit=1000,
        )
    now = services.clock()
    entries = [{"KeyId": k.key_id, "KeyArn": k.arn} for k in keys if not deletion_due(k, now)]
    return {"Keys": entries, **more}


def _update(
    services: Services,
    ctx: RequestContext,
    raw_key_id: str,
    action: str,
    change: Any,
    context: dict[str, Any] | None = None,
) -> Key:
    """Read the key for update, apply `change(key) -> Key`, write it, all in one transaction."""
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, raw_key_id, action=action, for_update=True, facts=context)
        new = change(key)
        stored = key if new == key else tx.keys.update(key, new)
        record_change(services, tx, ctx)
        return stored


def update_key_description(services: Services, ctx: RequestContext, req: Request) -> Response:
    def change(key: Key) -> Key:
        key.require_state_for("UpdateKeyDescription")
        return replace(key, description=check_storable(req["Description"], "description"))

    _update(services, ctx, req["KeyId"], "kms:UpdateKeyDescription", change)
    return {}


def enable_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    _update(services, ctx, req["KeyId"], "kms:EnableKey", Key.enable)
    return {}


def disable_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    _update(services, ctx, req["KeyId"], "kms:DisableKey", Key.disable)
    return {}


def schedule_key_deletion(services: Services, ctx: RequestContext, req: Request) -> Response:
    window = req.get("PendingWindowInDays", DEFAULT_PENDING_WINDOW_DAYS)
    now = services.clock()
    facts = {"kms:ScheduleKeyDeletionPendingWindowInDays": window}
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:ScheduleKeyDeletion", for_update=True, facts=facts)
        scheduled = key.schedule_deletion(now, window, has_replicas=has_replicas(tx, key, now))
        key = tx.keys.update(key, scheduled)
        response: Response = {"KeyId": key.arn}
        if key.deletion_date is not None:  # a primary waiting for its replicas has no date yet
            response["DeletionDate"] = key.deletion_date
        response |= {"KeyState": str(key.state), "PendingWindowInDays": key.pending_window_days}
        record_change(services, tx, ctx)
    return response


def cancel_key_deletion(services: Services, ctx: RequestContext, req: Request) -> Response:
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:CancelKeyDeletion", for_update=True)
        stored = tx.keys.update(key, key.cancel_deletion())
        if stored.external:
            # Disabled only if its material is all there (it may have been deleted or have expired meanwhile);
            # else PendingImport: EnableKey must not bring back material that is gone.
            settle_state(tx, stored)
        record_change(services, tx, ctx)
    return {"KeyId": key.arn}


def _check_policy_name(req: Request) -> str:
    name: str = req.get("PolicyName", "default")
    if name != "default":
        raise NotFoundException("No such policy exists")
    return name


def get_key_policy(services: Services, ctx: RequestContext, req: Request) -> Response:
    name = req.get("PolicyName", "default")
    key = key_for(
        services.reads, services, ctx, req["KeyId"], action="kms:GetKeyPolicy", facts={"kms:PolicyName": name}
    )
    _check_policy_name(req)
    return {"Policy": key.policy, "PolicyName": name}


def put_key_policy(services: Services, ctx: RequestContext, req: Request) -> Response:
    policy = req["Policy"]
    name = req.get("PolicyName", "default")
    bypass = bool(req.get("BypassPolicyLockoutSafetyCheck", False))
    context = {"kms:PolicyName": name, "kms:BypassPolicyLockoutSafetyCheck": bypass}
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:PutKeyPolicy", for_update=True, facts=context)
        if name != "default":
            raise ValidationException("PolicyName must be default.")
        # PutKeyPolicy works in every key state, PendingDeletion included (AWS's key-state table).
        parsed = check_key_policy_document(services, policy)
        if not bypass:
            _check_lockout(services, ctx, key, parsed)
        if policy != key.policy:
            tx.keys.update(key, replace(key, policy=policy))
        record_change(services, tx, ctx)
    return {}


def list_key_policies(services: Services, ctx: RequestContext, req: Request) -> Response:
    key_for(services.reads, services, ctx, req["KeyId"], action="kms:ListKeyPolicies")
    return {"PolicyNames": ["default"], "Truncated": False}
