"""Imported key material (keys of Origin EXTERNAL): GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, and the expiry of material past its ValidTo.

A key of Origin EXTERNAL is created without material, in PendingImport. Its material arrives wrapped under a
wrapping key of GetParametersForImport, is checked to be material of the key's spec, and is stored like any
other material (wrapped under the root key). Deleting or expiring it moves the key back to PendingImport;
importing the same bytes again restores it, so that ciphertexts made before decrypt again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from trent.api.authorize import key_for
from trent.api.context import Request, RequestContext, Response, Services, record_change
from trent.api.multi_region import synchronize_replicas
from trent.crypto import imports as crypto
from trent.domain.errors import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
    check_storable,
)
from trent.domain.keys import ORIGIN_EXTERNAL, Key, KeyMaterial, KeyState, MaterialInfo
from trent.storage.imports import ImportParameters
from trent.storage.store import Tx

PARAMETERS_VALID_SECONDS = 24 * 3600.0
#: Wrapping keys kept per key: the tokens of older ones stop working (docs/decisions.md D19).
MAX_PARAMETERS_PER_KEY = 100
MAX_VALID_TO_SECONDS = 365 * 86400.0
EXPIRES, DOES_NOT_EXPIRE = "KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"
IMPORTED, PENDING_IMPORT = "IMPORTED", "PENDING_IMPORT"
NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL = "NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"


def get_parameters_for_import(services: Services, ctx: RequestContext, req: Request) -> Response:
    algorithm, spec = req["WrappingAlgorithm"], req["WrappingKeySpec"]
    key = key_for(
        services.reads,
        services,
        ctx,
        req["KeyId"],
        action="kms:GetParametersForImport",
        facts={"kms:WrappingAlgorithm": algorithm, "kms:WrappingKeySpec": spec},
    )
    key.require_origin(ORIGIN_EXTERNAL)
    key.require_state_for("GetParametersForImport")
    if algorithm not in crypto.WRAPPING_ALGORITHMS or spec not in crypto.WRAPPING_KEY_SPECS:
        # RSAES_PKCS1_V1_5 (withdrawn by AWS in 2023) and SM2PKE (China Regions only); docs/decisions.md D22.
        raise UnsupportedOperationException(f"{algorithm} with wrapping key spec {spec} is not supported.")
    private_der, public_der = crypto.new_wrapping_key(spec)
    expires = services.clock() + PARAMETERS_VALID_SECONDS
    claims, token = services.import_tokens.mint(key.arn, algorithm, spec, expires)
    with services.store.transaction() as tx:
        tx.imports.add(
            ImportParameters(claims.token_id, key.ref, algorithm, spec, private_der, expires),
            keep=MAX_PARAMETERS_PER_KEY,
        )
    return {"KeyId": key.arn, "ImportToken": token, "PublicKey": public_der, "ParametersValidTo": expires}


def _expiration(req: Request, now: float) -> tuple[str, float | None]:
    model = req.get("ExpirationModel", EXPIRES)
    valid_to = req.get("ValidTo")
    if model == EXPIRES:
        if valid_to is None:
            raise ValidationException("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
        if not now < float(valid_to) <= now + MAX_VALID_TO_SECONDS:
            raise ValidationException("ValidTo must be in the future and at most 365 days from now.")
        return model, float(valid_to)
    if valid_to is not None:
        raise ValidationException(
            "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
        )
    return model, None


def import_key_material(services: Services, ctx: RequestContext, req: Request) -> Response:
    now = services.clock()
    model, valid_to = _expiration(req, now)
    import_type = req.get("ImportType")
    requested_id = req.get("KeyMaterialId")
    description = req.get("KeyMaterialDescription")
    if description is not None:
        check_storable(description, "keyMaterialDescription")
    if import_type == NEW_KEY_MATERIAL and requested_id is not None:
        raise ValidationException("KeyMaterialId cannot be specified with ImportType NEW_KEY_MATERIAL.")
    facts: dict[str, Any] = {}
    if "ExpirationModel" in req:  # absent when the request omits it, though the default is EXPIRES
        facts["kms:ExpirationModel"] = req["ExpirationModel"]
    if valid_to is not None:
        facts["kms:ValidTo"] = valid_to
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:ImportKeyMaterial", facts=facts, for_update=True)
        key.require_origin(ORIGIN_EXTERNAL)
        key.require_state_for("ImportKeyMaterial")
        if not key.spec.is_symmetric and (import_type or requested_id or description is not None):
            raise ValidationException(
                "ImportType, KeyMaterialId and KeyMaterialDescription apply to symmetric encryption keys only."
            )
        material = _unwrapped_material(services, tx, key, req["ImportToken"], req["EncryptedKeyMaterial"], now)
        material_id = crypto.material_id(services.material_ids, key.key_id, material)
        if requested_id is not None and requested_id != material_id:
            raise IncorrectKeyMaterialException(f"The key material does not match key material {requested_id}.")
        versions = tx.keys.material_versions(key.ref)
        known = next((v for v in versions if v.material_id == material_id), None)
        kind = import_type or (EXISTING_KEY_MATERIAL if versions else NEW_KEY_MATERIAL)
        if kind == EXISTING_KEY_MATERIAL and known is None:
            raise IncorrectKeyMaterialException(
                f"The key material is not the key material of {key.arn}: only the same material can be imported again."
            )
        if kind == NEW_KEY_MATERIAL and known is not None:
            raise IncorrectKeyMaterialException(f"This key material is already associated with {key.arn}.")
        if kind == NEW_KEY_MATERIAL and key.is_replica:  # new material goes to the primary, then to each replica
            raise UnsupportedOperationException(
                f"{key.arn} is a multi-Region replica key: new key material is imported into its primary key."
            )
        pending = next((v for v in versions if v.version > key.current_version), None)
        if kind == NEW_KEY_MATERIAL and versions and pending is not None:
            raise KMSInvalidStateException(
                f"New key material (id: {material_id}) cannot be imported into KMS key {key.arn}, because another "
                f"key material (id: {pending.material_id}) is pending rotation."
            )
        # New material for a key that has some waits, pending rotation, for RotateKeyOnDemand to make it current.
        version = known.version if known is not None else max((v.version for v in versions), default=0) + 1
        stored = KeyMaterial(
            key.ref,
            version,
            material_id,
            known.created if known is not None else now,
            known.rotation_type if known is not None else None,
            material,
            import_state=IMPORTED,
            expiration_model=model,
            valid_to=valid_to,
            description=description if description is not None else (known.description if known else None),
        )
        if known is None:
            tx.keys.add_material(stored)
        else:
            tx.keys.put_material(stored)
        settled = settle_state(tx, key, current_version=key.current_version or 1)
        synchronize_replicas(tx, settled)  # new material of a primary waits in each replica for its own import
        response: Response = {"KeyId": key.arn}
        if key.spec.is_symmetric:
            response["KeyMaterialId"] = material_id
        record_change(services, tx, ctx, response)
    return response


def _unwrapped_material(services: Services, tx: Tx, key: Key, token: bytes, encrypted: bytes, now: float) -> bytes:
    try:
        claims = services.import_tokens.verify(key.arn, token)
    except crypto.InvalidImportToken:
        raise InvalidImportTokenException(
            f"The import token is invalid or was not issued for {key.arn}. Call GetParametersForImport."
        ) from None
    if claims.expires <= now:
        raise ExpiredImportTokenException("The import token has expired. Call GetParametersForImport for a new one.")
    parameters = tx.imports.get(claims.token_id, key.ref)
    if parameters is None:  # superseded by newer parameters of the same key (MAX_PARAMETERS_PER_KEY)
        raise InvalidImportTokenException(
            f"The import token was superseded by newer import parameters of {key.arn}. Call GetParametersForImport."
        )
    try:
        unwrapped = crypto.unwrap(parameters.private_key, parameters.wrapping_algorithm, encrypted)
    except crypto.UnwrapFailed:
        raise InvalidCiphertextException() from None
    try:
        return crypto.material_for_spec(key.spec_name, unwrapped)
    except crypto.WrongMaterial:
        raise IncorrectKeyMaterialException(
            f"The key material is not valid for {key.arn}: it must be {_expected(key)}."
        ) from None


def _expected(key: Key) -> str:
    if key.spec_name == "SYMMETRIC_DEFAULT":
        return "a 256-bit key (32 bytes)"
    if key.spec_name in crypto.HMAC_MATERIAL_BYTES:
        low, high = crypto.HMAC_MATERIAL_BYTES[key.spec_name]
        return f"{low} to {high} bytes"
    return f"the private key of an {key.spec_name} key, DER-encoded (PKCS#8, or PKCS#1 / SEC 1)"


def settle_state(tx: Tx, key: Key, *, current_version: int | None = None) -> Key:
    """The key's state once its materials have changed: Enabled when every permanently associated material (the
    current one and those before it; not one pending rotation) is imported (a Disabled key stays Disabled),
    PendingImport when one is absent; a key pending deletion keeps its state (docs/decisions.md D23)."""
    current = key.current_version if current_version is None else current_version
    associated = [v for v in tx.keys.material_versions(key.ref) if v.version <= current]
    complete = bool(associated) and all(v.import_state == IMPORTED for v in associated)
    state = key.state
    if state is KeyState.PENDING_IMPORT and complete:
        state = KeyState.ENABLED
    elif state in (KeyState.ENABLED, KeyState.DISABLED) and not complete:
        state = KeyState.PENDING_IMPORT
    if state is key.state and current == key.current_version:
        return key
    return tx.keys.update(key, replace(key, state=state, current_version=current))


def delete_imported_key_material(services: Services, ctx: RequestContext, req: Request) -> Response:
    requested_id = req.get("KeyMaterialId")
    with services.store.transaction() as tx:
        key = key_for(tx, services, ctx, req["KeyId"], action="kms:DeleteImportedKeyMaterial", for_update=True)
        key.require_origin(ORIGIN_EXTERNAL)
        key.require_state_for("DeleteImportedKeyMaterial")
        if requested_id is not None and not key.spec.is_symmetric:
            raise ValidationException("KeyMaterialId applies to symmetric encryption keys only.")
        versions = tx.keys.material_versions(key.ref)
        target = _material_named(key, versions, requested_id)
        if target is not None and target.version > key.current_version:
            # Material pending rotation is not the key's yet: it goes, and other material may take its place.
            tx.keys.delete_material(key.ref, target.version)
        elif target is not None and target.import_state == IMPORTED:
            _remove_material(tx, key, target)
        response: Response = {
            "KeyId": key.arn,
            "KeyMaterialId": target.material_id if target is not None and key.spec.is_symmetric else "",
        }
        record_change(services, tx, ctx, response)
    return response


def _material_named(key: Key, versions: list[MaterialInfo], requested_id: str | None) -> MaterialInfo | None:
    """The material a DeleteImportedKeyMaterial names: by ID, or the current one (None: the key never had any)."""
    if requested_id is None:
        return next((v for v in versions if v.version == key.current_version), None)
    named = next((v for v in versions if v.material_id == requested_id), None)
    if named is None:
        raise NotFoundException(f"Key material {requested_id} is not associated with {key.arn}.")
    return named


def rotate_onto_pending(tx: Tx, key: Key, now: float) -> Key:
    """RotateKeyOnDemand of a key of imported material: the material imported for it becomes current, in a
    multi-Region primary and all its replicas at once, once every one of them has it."""
    pending = next((v for v in tx.keys.material_versions(key.ref) if v.version > key.current_version), None)
    if pending is None:
        raise KMSInvalidStateException(f"No available key material pending rotation for the key: {key.arn}.")
    if pending.import_state != IMPORTED:
        # A replica made primary (UpdatePrimaryRegion) before it had the new material imported.
        raise KMSInvalidStateException(
            f"The key material (id: {pending.material_id}) pending rotation of {key.arn} is not imported into it yet."
        )
    replicas = [k for k in tx.keys.related(key.account, key.key_id) if k.region != key.region]
    for replica in replicas:
        if pending.version not in imported_versions(tx, replica):
            raise KMSInvalidStateException(
                f"The key material (id: {pending.material_id}) pending rotation of {key.arn} is not imported into "
                f"its replica {replica.arn} yet."
            )
    for replica in replicas:
        tx.keys.mark_rotated(replica.ref, pending.version, now, "ON_DEMAND")
    tx.keys.mark_rotated(key.ref, pending.version, now, "ON_DEMAND")
    stored = tx.keys.update(key, key.rotated(now, on_demand=True))
    synchronize_replicas(tx, stored)
    return stored


def imported_versions(tx: Tx, key: Key) -> set[int]:
    return {v.version for v in tx.keys.material_versions(key.ref) if v.import_state == IMPORTED}


def expire_material(tx: Tx, key: Key, version: int) -> MaterialInfo | None:
    """Delete a version's imported material at its ValidTo (the maintenance pass); the key's state follows."""
    info = next((v for v in tx.keys.material_versions(key.ref) if v.version == version), None)
    if info is None or info.import_state != IMPORTED:
        return None
    _remove_material(tx, key, info)
    return info


def _remove_material(tx: Tx, key: Key, info: MaterialInfo) -> None:
    """Forget a version's imported bytes (its ID and description stay, for an import of the same bytes), and
    move the key's state accordingly."""
    absent = KeyMaterial(
        key.ref,
        info.version,
        info.material_id,
        info.created,
        info.rotation_type,
        None,
        import_state=PENDING_IMPORT,
        description=info.description,
    )
    tx.keys.put_material(absent)
    settle_state(tx, key)


def imported_facts(tx: Tx, key: Key, now: float) -> dict[str, Any]:
    """DescribeKey's members about imported material: CurrentKeyMaterialId (symmetric keys, once there is
    material, kept after a deletion), and ExpirationModel/ValidTo while material is imported. Material past its
    ValidTo counts as deleted at once, though the maintenance pass deletes it later: the key reads PendingImport
    as soon as it cannot be used (the key ring refuses such material too)."""
    versions = [v for v in tx.keys.material_versions(key.ref) if v.version <= key.current_version]
    facts: dict[str, Any] = {}
    current = next((v for v in versions if v.version == key.current_version), None)
    if current is not None and key.spec.is_symmetric:
        facts["CurrentKeyMaterialId"] = current.material_id
    imported = [v for v in versions if v.import_state == IMPORTED and (v.valid_to is None or v.valid_to > now)]
    if len(imported) < len(versions) and key.state in (KeyState.ENABLED, KeyState.DISABLED):
        facts["KeyState"], facts["Enabled"] = str(KeyState.PENDING_IMPORT), False
    if imported:
        expiring = [v.valid_to for v in imported if v.expiration_model == EXPIRES and v.valid_to is not None]
        facts["ExpirationModel"] = EXPIRES if expiring else DOES_NOT_EXPIRE
        if expiring:
            facts["ValidTo"] = min(expiring)
    return facts
