"""Automatic and on-demand rotation: a rotation adds key material; old material stays for decryption."""

from __future__ import annotations

from trent.api.authorize import key_for
from trent.api.common import page
from trent.api.context import Request, RequestContext, Response, Services, record_change
from trent.api.imports import rotate_onto_pending
from trent.api.multi_region import synchronize_replicas
from trent.crypto.keygen import generate_material, new_material_id
from trent.domain import keys as key_defaults
from trent.domain.errors import LimitExceededException, UnsupportedOperationException
from trent.domain.keys import MAX_ON_DEMAND_ROTATIONS, Key, KeyMaterial, KeyState, MaterialInfo
from trent.storage.store import Tx


def rotate(tx: Tx, key: Key, now: float, *, on_demand: bool) -> Key:
    """Add a new material version to `key` and make it current (in the caller's transaction); a multi-Region
    primary's replicas rotate with it."""
    rotated = key.rotated(now, on_demand=on_demand)
    material = KeyMaterial(
        key.ref,
        rotated.current_version,
        new_material_id(),
        now,
        "ON_DEMAND" if on_demand else "AUTOMATIC",
        generate_material(key.spec),
    )
    tx.keys.add_material(material)
    stored = tx.keys.update(key, rotated)
    synchronize_replicas(tx, stored)
    return stored


def enable_key_rotation(services: Services, ctx: RequestContext, req: Request) -> Response:
    now = services.clock()
    with services.store.transaction() as tx:
        period = req.get("RotationPeriodInDays", key_defaults.DEFAULT_ROTATION_PERIOD_DAYS)
        key = key_for(
            tx,
            services,
            ctx,
            req["KeyId"],
            action="kms:EnableKeyRotation",
            for_update=True,
            facts={"kms:RotationPeriodInDays": period},
        )
        synchronize_replicas(tx, tx.keys.update(key, key.enable_rotation(now, req.get("RotationPeriodInDays"))))
        record_change(services, tx, ctx)
    return {}


def disable_key_rotation(services: Services, ctx: RequestContext, req: Request) -> Response:
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:DisableKeyRotation", for_update=True)
        synchronize_replicas(tx, tx.keys.update(key, key.disable_rotation()))
        record_change(services, tx, ctx)
    return {}


def get_key_rotation_status(services: Services, ctx: RequestContext, req: Request) -> Response:
    with services.store.transaction(write=False) as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:GetKeyRotationStatus")
    key.require_rotation_supported()
    key.require_state_for("GetKeyRotationStatus")
    response: Response = {"KeyRotationEnabled": key.rotation_enabled, "KeyId": key.arn}
    if key.rotation_enabled:
        response["RotationPeriodInDays"] = key.rotation_period_days
        response["NextRotationDate"] = key.next_rotation_date
    return response


def rotate_key_on_demand(services: Services, ctx: RequestContext, req: Request) -> Response:
    now = services.clock()
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:RotateKeyOnDemand", for_update=True)
        # As AWS answers: a disabled (or deleted) key says so before its spec is looked at; a spec that cannot
        # rotate is refused with an empty message (docs/decisions.md D18).
        if key.state in (KeyState.DISABLED, KeyState.PENDING_DELETION, KeyState.PENDING_REPLICA_DELETION):
            key.require_state_for("RotateKeyOnDemand")
        if not key.spec.is_symmetric:
            raise UnsupportedOperationException()
        key.require_state_for("RotateKeyOnDemand")
        if key.multi_region:
            key.require_primary()  # its replicas rotate with it
        if key.external:  # onto the material imported for it (ImportType NEW_KEY_MATERIAL)
            if key.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS:
                raise _rotation_limit(key)
            rotate_onto_pending(tx, key, now)
            record_change(services, tx, ctx, {"KeyId": key.arn})
            return {"KeyId": key.arn}
        if key.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS:
            raise _rotation_limit(key)
        rotate(tx, key, now, on_demand=True)
        record_change(services, tx, ctx, {"KeyId": key.arn})
    return {"KeyId": key.arn}


def _rotation_limit(key: Key) -> LimitExceededException:
    return LimitExceededException(
        "The on-demand rotations limit has been reached for the given keyId. "
        f"No more on-demand rotations can be performed for this key: {key.arn}"
    )


def list_key_rotations(services: Services, ctx: RequestContext, req: Request) -> Response:
    with services.store.transaction(write=False) as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:ListKeyRotations")
        key.require_rotation_supported()
        versions = tx.keys.material_versions(key.ref)
        awaited = _awaited_in_replicas(tx, key)
    include_all = req.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    listed = [v for v in versions if include_all or v.rotation_type is not None]

    def fetch(after: str | None, limit: int) -> list[MaterialInfo]:
        start = int(after) if after is not None else 0
        return [v for v in listed if v.version > start][:limit]

    items, more = page(services, "rotations", key.arn, req, fetch, lambda v: str(v.version), max_limit=1000)
    return {"Rotations": [_rotation_entry(key, info, awaited) for info in items], **more}


def _awaited_in_replicas(tx: Tx, key: Key) -> set[int]:
    """The versions of a multi-Region primary's imported material pending rotation that some replica lacks."""
    if not (key.external and key.is_primary):
        return set()
    awaited: set[int] = set()
    for replica in tx.keys.related(key.account, key.key_id):
        if replica.region != key.region:
            awaited |= {
                v.version
                for v in tx.keys.material_versions(replica.ref)
                if v.version > key.current_version and v.import_state != "IMPORTED"
            }
    return awaited


def _material_state(key: Key, info: MaterialInfo, awaited: set[int]) -> str:
    if info.version == key.current_version:
        return "CURRENT"
    if info.version < key.current_version:
        return "NON_CURRENT"
    return "PENDING_MULTI_REGION_IMPORT_AND_ROTATION" if info.version in awaited else "PENDING_ROTATION"


def _rotation_entry(key: Key, info: MaterialInfo, awaited: set[int]) -> Response:
    entry: Response = {
        "KeyId": key.arn,
        "KeyMaterialId": info.material_id,
        "KeyMaterialState": _material_state(key, info, awaited),
    }
    if info.rotation_type is not None:
        entry["RotationDate"] = info.created
        entry["RotationType"] = info.rotation_type
    if not key.external:
        entry["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
        return entry
    # Imported material (symmetric keys only reach here): its import facts.
    if info.description is not None:
        entry["KeyMaterialDescription"] = info.description
    entry["ImportState"] = info.import_state or "PENDING_IMPORT"
    if info.expiration_model is not None:
        entry["ExpirationModel"] = info.expiration_model
    if info.valid_to is not None:
        entry["ValidTo"] = info.valid_to
    return entry
