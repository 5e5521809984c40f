"""Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, and keeping related keys in step.

Related keys share their key ID (`mrk-…`), key material, spec, usage, origin and automatic rotation; each has its
own ARN, key policy, grants, aliases, tags, description and state (docs/decisions.md D25). Trent's Regions are
namespaces of one store, so a replica is a real key: its own row, named in the store by `<id>/<region>`
(`trent.domain.ids.key_ref`), with its own copy of the material, wrapped under the root key for it alone.
Whatever the primary changes that related keys share is copied to every replica in the same transaction
(AWS's SynchronizeMultiRegionKey), so no reader ever sees related keys disagree.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from trent.api.audit import AuditDraft
from trent.api.authorize import (
    authorize_iam,
    authorize_key,
    check_key_policy_document,
    deletion_due,
    key_context,
    key_for,
    lockout_allows,
    tag_context,
)
from trent.api.common import key_metadata
from trent.api.context import Request, RequestContext, Response, Services, context_row, record_change
from trent.api.tags import check_new_tags
from trent.domain.errors import (
    AlreadyExistsException,
    MalformedPolicyDocumentException,
    NotFoundException,
    UnsupportedOperationException,
    check_storable,
)
from trent.domain.ids import key_arn
from trent.domain.keys import Key, KeyMaterial, KeyState, default_key_policy
from trent.storage.store import Tx

PENDING_IMPORT = "PENDING_IMPORT"


# --- what DescribeKey shows ----------------------------------------------------------------------------------------
def related_keys(tx: Tx, key: Key, now: float) -> list[Key]:
    """The key and the keys related to it that exist (a replica whose deletion is due is gone already)."""
    if not key.multi_region:
        return [key]
    return [k for k in tx.keys.related(key.account, key.key_id) if not deletion_due(k, now)]


def synchronize_replicas(tx: Tx, primary: Key) -> None:
    """Copy to every replica what related keys share and the primary has just changed: material versions (each
    replica's own copy; imported material is never copied, only its place, pending its own import), the current
    version and automatic rotation."""
    if not primary.is_primary:
        return
    versions = tx.keys.material_versions(primary.ref)
    material_ids = {v.version: v.material_id for v in versions}
    for replica in tx.keys.related(primary.account, primary.key_id):
        if replica.region == primary.region:
            continue
        held = set()
        for info in tx.keys.material_versions(replica.ref):
            if material_ids.get(info.version) == info.material_id:
                held.add(info.version)
            else:  # material pending rotation that the primary has since deleted (or replaced)
                tx.keys.delete_material(replica.ref, info.version)
        for info in versions:
            if info.version in held:
                continue
            source = tx.keys.material(primary.ref, info.version)
            assert source is not None
            tx.keys.add_material(_copy_for(replica, source) if not primary.external else _place_for(replica, source))
        shared = replace(
            replica,
            current_version=primary.current_version,
            rotation_enabled=primary.rotation_enabled,
            rotation_period_days=primary.rotation_period_days,
            next_rotation_date=primary.next_rotation_date,
            on_demand_rotations=primary.on_demand_rotations,
        )
        if shared != replica:
            tx.keys.update(replica, shared)


def _copy_for(replica: Key, material: KeyMaterial) -> KeyMaterial:
    return replace(material, key_ref=replica.ref)


def _place_for(replica: Key, material: KeyMaterial) -> KeyMaterial:
    """Imported material's place in a replica: the same ID and history, waiting for the same bytes."""
    return replace(
        material,
        key_ref=replica.ref,
        material=None,
        import_state=PENDING_IMPORT,
        expiration_model=None,
        valid_to=None,
    )


# --- ReplicateKey --------------------------------------------------------------------------------------------------
def replicate_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    region = req["ReplicaRegion"]
    bypass = bool(req.get("BypassPolicyLockoutSafetyCheck", False))
    tags = check_new_tags(req.get("Tags", []), existing={})
    policy = req.get("Policy")
    now = services.clock()
    with services.store.transaction() as tx:
        primary = key_for(
            tx,
            services,
            ctx,
            req["KeyId"],
            action="kms:ReplicateKey",
            for_update=True,
            facts={"kms:ReplicaRegion": region},
        )
        # The replica is created in its own Region: the caller's identity policies must allow kms:CreateKey
        # there (and kms:TagResource with tags), with the facts of that CreateKey.
        replica_ctx = ctx._replace(region=region)
        create_facts = {
            **key_context(primary),
            "kms:MultiRegionKeyType": "REPLICA",
            "kms:BypassPolicyLockoutSafetyCheck": bypass,
            **tag_context(tags),
        }
        authorize_iam(services, replica_ctx, "kms:CreateKey", "*", facts=create_facts)
        if tags:
            authorize_iam(services, replica_ctx, "kms:TagResource", "*", facts=create_facts)
        primary.require_primary()
        primary.require_state_for("ReplicateKey")
        if region not in services.regions:
            raise UnsupportedOperationException(f"Region {region} is not served by this Trent.")
        existing = []
        for related in tx.keys.related(primary.account, primary.key_id):
            if related.region == region and deletion_due(related, now):
                tx.keys.delete(related.ref)  # deleted in all but name: the sweeper had not got to it yet
            elif related.region == region:  # the primary's own Region, or one with a replica already
                raise AlreadyExistsException(f"{key_arn(region, primary.account, primary.key_id)} already exists.")
            elif not deletion_due(related, now):
                existing.append(related)
        parsed_policy = check_key_policy_document(services, policy) if policy is not None else None
        replica = primary.replica_in(
            region,
            policy=policy if policy is not None else default_key_policy(primary.account),
            description=check_storable(req.get("Description", ""), "description"),
            now=now,
        )
        if parsed_policy is not None and not bypass:
            resource_facts = {**{f"aws:ResourceTag/{k}": v for k, v in tags.items()}, "kms:ResourceAliases": []}
            if not lockout_allows(services, replica_ctx, replica, parsed_policy, resource_facts=resource_facts):
                raise MalformedPolicyDocumentException(
                    "The new key policy will not allow you to update the key policy in the future."
                )
        tx.keys.insert(replica, None)
        tx.tags.put(replica.ref, tags)
        synchronize_replicas(tx, primary)
        # The response shows the replica as AWS shows it at first, Creating; it is ready at once
        # (docs/decisions.md D25).
        creating = replace(replica, state=KeyState.CREATING)
        response: Response = {
            "ReplicaKeyMetadata": key_metadata(creating, None, related=[*existing, replica]),
            "ReplicaPolicy": replica.policy,
        }
        if tags:
            response["ReplicaTags"] = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
        if ctx.audit is not None:
            ctx.audit.add_key(replica.arn, replica.account)
        record_change(services, tx, ctx, response)
        _record_in_region(
            services,
            tx,
            ctx,
            AuditDraft(
                "CreateKey",
                read_only=False,
                request=_create_request(req, primary),
                resources={replica.arn: replica.account},
            ),
            region,
            {"KeyMetadata": response["ReplicaKeyMetadata"]},
        )
    return response


def _create_request(req: Request, primary: Key) -> dict[str, Any]:
    """The replica Region's CreateKey event's requestParameters."""
    request: dict[str, Any] = {
        "keySpec": primary.spec_name,
        "keyUsage": str(primary.usage),
        "origin": primary.origin,
        "multiRegion": True,
        "description": req.get("Description", ""),
        "bypassPolicyLockoutSafetyCheck": bool(req.get("BypassPolicyLockoutSafetyCheck", False)),
    }
    if "Tags" in req:
        request["tags"] = req["Tags"]
    return request


def _record_in_region(
    services: Services,
    tx: Tx,
    ctx: RequestContext,
    draft: AuditDraft,
    region: str,
    response: Response | None,
    *,
    invoked_by: str | None = None,
) -> None:
    """The event AWS writes in another Region for the same call (ReplicateKey's CreateKey, UpdatePrimaryRegion's
    second event), in the transaction of the change."""
    if ctx.audit is None:
        return
    row = context_row(services.audit, ctx._replace(region=region, audit=draft), response=response)
    if row is None:
        return
    if invoked_by is not None:
        row = services.audit.invoked_by(row, invoked_by)
    services.audit.write(tx, row)


# --- UpdatePrimaryRegion -------------------------------------------------------------------------------------------
def update_primary_region(services: Services, ctx: RequestContext, req: Request) -> Response:
    region = req["PrimaryRegion"]
    facts = {"kms:PrimaryRegion": region}
    with services.store.transaction() as tx:
        primary = key_for(
            tx, services, ctx, req["KeyId"], action="kms:UpdatePrimaryRegion", for_update=True, facts=facts
        )
        primary.require_primary()
        primary.require_state_for("UpdatePrimaryRegion")
        if region == primary.region:
            # Already the primary's Region: nothing to change (docs/decisions.md D25).
            record_change(services, tx, ctx)
            return {}
        target = tx.keys.get(primary.account, region, primary.key_id, for_update=True)
        if target is None or deletion_due(target, services.clock()):
            raise NotFoundException(f"Key '{key_arn(region, primary.account, primary.key_id)}' does not exist")
        # The permission is needed on both keys; the replica's decision is made in its own Region.
        replica_ctx = ctx._replace(region=region)
        authorize_key(services, replica_ctx, "kms:UpdatePrimaryRegion", target, facts=facts)
        target.require_state_for("UpdatePrimaryRegion")
        tx.keys.set_primary_region(primary.account, primary.key_id, region)
        record_change(services, tx, ctx)
        _record_in_region(
            services,
            tx,
            ctx,
            AuditDraft("UpdatePrimaryRegion", read_only=False, request={"keyId": target.arn, "primaryRegion": region}),
            region,
            None,
            invoked_by="kms.amazonaws.com",
        )
    return {}


# --- deletion ------------------------------------------------------------------------------------------------------
def has_replicas(tx: Tx, key: Key, now: float) -> bool:
    """A primary that still has replicas (even ones scheduled for deletion) waits for them to be deleted."""
    return key.is_primary and any(k.region != key.region for k in related_keys(tx, key, now))


def replica_deleted(tx: Tx, replica: Key, now: float) -> None:
    """After a replica's deletion: a primary waiting in PendingReplicaDeletion for its last replica starts its own
    waiting period."""
    if replica.primary_region is None:
        return
    primary = tx.keys.get(replica.account, replica.primary_region, replica.key_id, for_update=True)
    if primary is None or primary.state is not KeyState.PENDING_REPLICA_DELETION:
        return
    if not has_replicas(tx, primary, now):
        tx.keys.update(primary, primary.last_replica_deleted(now))
