"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateDataKeyPair(WithoutPlaintext)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from trent.api.authorize import authorize_key, deletion_due, encryption_context_keys, find_key_unauthorized
from trent.api.context import Request, RequestContext, Response, Services
from trent.api.crypto_common import (
    check_algorithm,
    check_usable_for,
    finish_dry_run,
    key_for_use,
    refuse_recipient,
)
from trent.api.keyring import LoadedMaterial
from trent.crypto import asymmetric, blob
from trent.domain.errors import (
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.domain.ids import key_ref
from trent.domain.keys import Key
from trent.domain.keyspec import KeyUsage

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
DATA_KEY_PAIR_SPECS = frozenset(
    {
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "ECC_NIST_EDWARDS25519",
    }
)


class Encrypted(NamedTuple):
    key: Key
    ciphertext: bytes
    algorithm: str
    material_id: str | None


class Decrypted(NamedTuple):
    key: Key
    plaintext: bytes | None  # None when the ciphertext was not examined (DryRun with IGNORE_CIPHERTEXT)
    algorithm: str
    material_id: str | None


# --- the two halves every operation here is made of ---------------------------------------------------
def _prepare_encrypt(key: Key, algorithm: str, plaintext_size: int, context: Mapping[str, str] | None) -> None:
    check_algorithm(key, algorithm, key.spec.encryption_algorithms)
    if not key.spec.is_symmetric:
        if context:
            raise ValidationException("EncryptionContext is not supported by asymmetric KMS keys.")
        limit = asymmetric.rsa_oaep_plaintext_limit(key.spec_name, algorithm)
        if plaintext_size > limit:
            raise ValidationException(
                f"Algorithm {algorithm} and key spec {key.spec_name} cannot encrypt data larger than {limit} bytes."
            )


def _encrypt(
    services: Services, key: Key, algorithm: str, plaintext: bytes, context: Mapping[str, str] | None
) -> Encrypted:
    material = services.keyring.current(key)
    if key.spec.is_symmetric:
        assert material.aead is not None
        ciphertext = blob.seal(material.aead, key.key_id, material.version, plaintext, context)
        return Encrypted(key, ciphertext, algorithm, material.material_id)
    private_key = _private_key(material)
    return Encrypted(key, private_key.encrypt(algorithm, plaintext), algorithm, None)


def _decrypt(
    services: Services,
    ctx: RequestContext,
    *,
    ciphertext: bytes | None,
    raw_key_id: str | None,
    algorithm: str | None,
    context: Mapping[str, str] | None,
    operation: str,
    action: str,
    member: str,
    grant_tokens: Sequence[str],
    more_facts: Callable[[Key], Mapping[str, Any]] | None = None,
    more_decisions: Callable[[Key], None] | None = None,
) -> Decrypted:
    """Find the key of a ciphertext, authorize `action` on it, check it may be used, and decrypt (unless the
    ciphertext is ignored). `more_facts(key)` adds condition keys that depend on the key found;
    `more_decisions(key)` makes the request's other decisions (ReEncrypt's destination), so that every decision
    is made before anything about a key's state is told."""
    # The decision is on the ciphertext's key; the KeyId of the request only has to name that same key, which
    # is checked after the decision so that it tells nothing to a caller who may not use the key.
    named = find_key_unauthorized(services.reads, services, ctx, raw_key_id, allow_alias=True) if raw_key_id else None
    header: blob.BlobHeader | None = None
    if ciphertext is None:
        if named is None:
            raise ValidationException(
                f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
                "Member must not be null"
            )
        key = named
    elif named is not None and not named.spec.is_symmetric and named.usage is KeyUsage.ENCRYPT_DECRYPT:
        key = named  # RSA ciphertext: only the KeyId says which key
    # Otherwise the ciphertext says which key; a KeyId naming another key (an HMAC key, say) is refused as
    # IncorrectKeyException once the ciphertext's key has been decided on, as AWS refuses it.
    else:
        try:
            header = blob.parse_header(ciphertext)
        except blob.InvalidBlob:
            raise InvalidCiphertextException() from None
        found = services.reads.get_key_by_ref(key_ref(header.key_id, ctx.region))
        if found is None or found.region != ctx.region or deletion_due(found, services.clock()):
            # A blob naming no key we hold is indistinguishable from a damaged blob.
            raise InvalidCiphertextException()
        key = found
    algorithm = algorithm or SYMMETRIC_DEFAULT
    facts = {"kms:EncryptionAlgorithm": algorithm, **encryption_context_keys(context)}
    if more_facts is not None:
        facts.update(more_facts(key))
    authorize_key(
        services,
        ctx,
        action,
        key,
        facts=facts,
        raw_key_id=raw_key_id if named is not None and named.ref == key.ref else None,
        encryption_context=context,
        tokens=grant_tokens,
    )
    if more_decisions is not None:
        more_decisions(key)
    if named is not None and named.ref != key.ref:
        raise IncorrectKeyException(
            "The key ID in the request does not identify a CMK that can perform this operation."
        )
    check_usable_for(key, operation, KeyUsage.ENCRYPT_DECRYPT)
    check_algorithm(key, algorithm, key.spec.encryption_algorithms)
    if ciphertext is None:
        return Decrypted(key, None, algorithm, None)
    if key.spec.is_symmetric:
        if header is None:  # the KeyId named the key: the blob's header is read only now
            header = blob.parse_header(ciphertext)
        if not 1 <= header.material_version <= key.current_version:
            raise InvalidCiphertextException()
        material = services.keyring.material(key, header.material_version)
        if material is None and key.external:
            # Imported material deleted or expired on another node, before this one saw the key's new state.
            raise KMSInvalidStateException(f"{key.arn} is pending import.")
        if material is None or material.aead is None:
            raise InvalidCiphertextException()
        try:
            plaintext = blob.open_blob(material.aead, ciphertext, context)
        except blob.InvalidBlob:
            raise InvalidCiphertextException() from None
        return Decrypted(key, plaintext, algorithm, material.material_id)
    if context:
        raise InvalidCiphertextException()
    try:
        plaintext = _private_key(services.keyring.current(key)).decrypt(algorithm, ciphertext)
    except asymmetric.DecryptionFailed:
        raise InvalidCiphertextException() from None
    return Decrypted(key, plaintext, algorithm, None)


def _private_key(material: LoadedMaterial) -> asymmetric.PrivateKey:
    private_key = material.private_key
    assert isinstance(private_key, asymmetric.PrivateKey)
    return private_key


def _ignores_ciphertext(req: Request) -> bool:
    return bool(req.get("DryRun")) and "IGNORE_CIPHERTEXT" in req.get("DryRunModifiers", [])


def _check_modifiers(req: Request) -> None:
    if req.get("DryRunModifiers") and not req.get("DryRun"):
        raise ValidationException("DryRunModifiers can only be used when DryRun is true.")


# --- operations -----------------------------------------------------------------------------------------
def encrypt(services: Services, ctx: RequestContext, req: Request) -> Response:
    algorithm = req.get("EncryptionAlgorithm", SYMMETRIC_DEFAULT)
    context = req.get("EncryptionContext")
    key = key_for_use(
        services,
        ctx,
        req["KeyId"],
        operation="Encrypt",
        usage=KeyUsage.ENCRYPT_DECRYPT,
        facts={"kms:EncryptionAlgorithm": algorithm, **encryption_context_keys(context)},
        encryption_context=context,
        tokens=req.get("GrantTokens", ()),
    )
    _prepare_encrypt(key, algorithm, len(req["Plaintext"]), context)
    finish_dry_run(req)
    result = _encrypt(services, key, algorithm, req["Plaintext"], context)
    return {"CiphertextBlob": result.ciphertext, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}


def decrypt(services: Services, ctx: RequestContext, req: Request) -> Response:
    refuse_recipient(req)
    _check_modifiers(req)
    result = _decrypt(
        services,
        ctx,
        ciphertext=None if _ignores_ciphertext(req) else req.get("CiphertextBlob"),
        raw_key_id=req.get("KeyId"),
        algorithm=req.get("EncryptionAlgorithm"),
        context=req.get("EncryptionContext"),
        operation="Decrypt",
        action="kms:Decrypt",
        member="ciphertextBlob",
        grant_tokens=req.get("GrantTokens", ()),
    )
    if result.plaintext is None and not _ignores_ciphertext(req):
        raise ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: "
            "Member must not be null"
        )
    finish_dry_run(req)
    response: Response = {
        "KeyId": result.key.arn,
        "Plaintext": result.plaintext,
        "EncryptionAlgorithm": result.algorithm,
    }
    if result.material_id is not None:
        response["KeyMaterialId"] = result.material_id
    return response


def re_encrypt(services: Services, ctx: RequestContext, req: Request) -> Response:
    _check_modifiers(req)
    ignore = _ignores_ciphertext(req)
    # kms:ReEncryptOnSameKey of the source half needs the destination, which has its own decision.
    destination = find_key_unauthorized(services.reads, services, ctx, req["DestinationKeyId"], allow_alias=True)
    algorithm = req.get("DestinationEncryptionAlgorithm", SYMMETRIC_DEFAULT)
    context = req.get("DestinationEncryptionContext")

    def authorize_destination(source_key: Key) -> None:
        facts = {
            "kms:EncryptionAlgorithm": algorithm,
            "kms:ReEncryptOnSameKey": destination.ref == source_key.ref,
            **encryption_context_keys(context),
        }
        authorize_key(
            services,
            ctx,
            "kms:ReEncryptTo",
            destination,
            facts=facts,
            raw_key_id=req["DestinationKeyId"],
            encryption_context=context,
            tokens=req.get("GrantTokens", ()),
        )

    source = _decrypt(
        services,
        ctx,
        ciphertext=None if ignore else req.get("CiphertextBlob"),
        raw_key_id=req.get("SourceKeyId"),
        algorithm=req.get("SourceEncryptionAlgorithm"),
        context=req.get("SourceEncryptionContext"),
        operation="ReEncrypt",
        action="kms:ReEncryptFrom",
        member="ciphertextBlob",
        grant_tokens=req.get("GrantTokens", ()),
        # Both halves see kms:ReEncryptOnSameKey (AWS's example policy allows kms:ReEncrypt* on it).
        more_facts=lambda key: {"kms:ReEncryptOnSameKey": destination.ref == key.ref},
        more_decisions=authorize_destination,
    )
    if source.plaintext is None and not ignore:
        raise ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: "
            "Member must not be null"
        )
    check_usable_for(destination, "ReEncrypt", KeyUsage.ENCRYPT_DECRYPT)
    _prepare_encrypt(destination, algorithm, len(source.plaintext or b""), context)
    finish_dry_run(req)
    assert source.plaintext is not None
    result = _encrypt(services, destination, algorithm, source.plaintext, context)
    response: Response = {
        "CiphertextBlob": result.ciphertext,
        "SourceKeyId": source.key.arn,
        "KeyId": destination.arn,
        "SourceEncryptionAlgorithm": source.algorithm,
        "DestinationEncryptionAlgorithm": algorithm,
    }
    if source.material_id is not None:
        response["SourceKeyMaterialId"] = source.material_id
    if result.material_id is not None:
        response["DestinationKeyMaterialId"] = result.material_id
    return response


def _data_key_length(req: Request) -> int:
    has_spec, has_bytes = "KeySpec" in req, "NumberOfBytes" in req
    if has_spec == has_bytes:
        raise ValidationException("Please specify either number of bytes or key spec.")
    return DATA_KEY_BYTES[req["KeySpec"]] if has_spec else int(req["NumberOfBytes"])


def _symmetric_key_for(
    services: Services, ctx: RequestContext, req: Request, operation: str, context: dict[str, Any] | None = None
) -> Key:
    facts = {
        "kms:EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        **encryption_context_keys(req.get("EncryptionContext")),
        **(context or {}),
    }
    key = key_for_use(
        services,
        ctx,
        req["KeyId"],
        operation=operation,
        usage=KeyUsage.ENCRYPT_DECRYPT,
        facts=facts,
        encryption_context=req.get("EncryptionContext"),
        tokens=req.get("GrantTokens", ()),
    )
    if not key.spec.is_symmetric:
        raise InvalidKeyUsageException(f"{key.arn} key spec is {key.spec_name} which is not valid for {operation}.")
    return key


class _DataKey(NamedTuple):
    key: Key
    plaintext: bytes
    sealed: Encrypted


def _new_data_key(services: Services, ctx: RequestContext, req: Request, operation: str) -> _DataKey:
    """What GenerateDataKey and its WithoutPlaintext twin share: the decision, and a new data key sealed."""
    length = _data_key_length(req)
    key = _symmetric_key_for(services, ctx, req, operation)
    finish_dry_run(req)
    plaintext = secrets.token_bytes(length)
    return _DataKey(key, plaintext, _encrypt(services, key, SYMMETRIC_DEFAULT, plaintext, req.get("EncryptionContext")))


def generate_data_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    refuse_recipient(req)
    data_key = _new_data_key(services, ctx, req, "GenerateDataKey")
    return {
        "CiphertextBlob": data_key.sealed.ciphertext,
        "Plaintext": data_key.plaintext,
        "KeyId": data_key.key.arn,
        "KeyMaterialId": data_key.sealed.material_id,
    }


def generate_data_key_without_plaintext(services: Services, ctx: RequestContext, req: Request) -> Response:
    data_key = _new_data_key(services, ctx, req, "GenerateDataKeyWithoutPlaintext")
    return {
        "CiphertextBlob": data_key.sealed.ciphertext,
        "KeyId": data_key.key.arn,
        "KeyMaterialId": data_key.sealed.material_id,
    }


class _DataKeyPair(NamedTuple):
    key: Key
    spec: str
    private_der: bytes
    public_der: bytes
    sealed: Encrypted


def _new_data_key_pair(services: Services, ctx: RequestContext, req: Request, operation: str) -> _DataKeyPair:
    """What GenerateDataKeyPair and its WithoutPlaintext twin share: the decision, and a new pair, its private
    key sealed."""
    pair_spec = req["KeyPairSpec"]
    key = _symmetric_key_for(services, ctx, req, operation, {"kms:DataKeyPairSpec": pair_spec})
    if pair_spec not in DATA_KEY_PAIR_SPECS:
        raise UnsupportedOperationException(f"Trent does not support KeyPairSpec {pair_spec}.")
    finish_dry_run(req)
    private_der, public_der = asymmetric.generate_key_pair(pair_spec)
    sealed = _encrypt(services, key, SYMMETRIC_DEFAULT, private_der, req.get("EncryptionContext"))
    return _DataKeyPair(key, pair_spec, private_der, public_der, sealed)


def generate_data_key_pair(services: Services, ctx: RequestContext, req: Request) -> Response:
    refuse_recipient(req)
    pair = _new_data_key_pair(services, ctx, req, "GenerateDataKeyPair")
    return {
        "PrivateKeyCiphertextBlob": pair.sealed.ciphertext,
        "PrivateKeyPlaintext": pair.private_der,
        "PublicKey": pair.public_der,
        "KeyId": pair.key.arn,
        "KeyPairSpec": pair.spec,
        "KeyMaterialId": pair.sealed.material_id,
    }


def generate_data_key_pair_without_plaintext(services: Services, ctx: RequestContext, req: Request) -> Response:
    pair = _new_data_key_pair(services, ctx, req, "GenerateDataKeyPairWithoutPlaintext")
    return {
        "PrivateKeyCiphertextBlob": pair.sealed.ciphertext,
        "PublicKey": pair.public_der,
        "KeyId": pair.key.arn,
        "KeyPairSpec": pair.spec,
        "KeyMaterialId": pair.sealed.material_id,
    }
