"""Sign, Verify, GetPublicKey, GenerateMac, VerifyMac, DeriveSharedSecret, GenerateRandom."""

from __future__ import annotations

import secrets

from trent.api.authorize import authorize_iam, key_for
from trent.api.context import Request, RequestContext, Response, Services
from trent.api.crypto_common import check_algorithm, finish_dry_run, key_for_use, refuse_recipient
from trent.api.keyring import LoadedMaterial
from trent.crypto import asymmetric, mac
from trent.domain.errors import (
    CustomKeyStoreNotFoundException,
    InvalidKeyUsageException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)
from trent.domain.keyspec import CUSTOMER_MASTER_KEY_SPECS, KeyUsage


def _private_key(material: LoadedMaterial) -> asymmetric.PrivateKey:
    private_key = material.private_key
    assert isinstance(private_key, asymmetric.PrivateKey)
    return private_key


def _signing_call(
    services: Services, ctx: RequestContext, req: Request, operation: str
) -> tuple[str, asymmetric.PrivateKey, str, str]:
    algorithm = req["SigningAlgorithm"]
    message_type = req.get("MessageType", "RAW")
    facts = {"kms:SigningAlgorithm": algorithm, "kms:MessageType": message_type}
    key = key_for_use(
        services,
        ctx,
        req["KeyId"],
        operation=operation,
        usage=KeyUsage.SIGN_VERIFY,
        facts=facts,
        tokens=req.get("GrantTokens", ()),
    )
    check_algorithm(key, algorithm, key.spec.signing_algorithms)
    if message_type == "EXTERNAL_MU":
        raise InvalidKeyUsageException(f"MessageType EXTERNAL_MU is incompatible with key spec {key.spec_name}.")
    if message_type == "DIGEST" and len(req["Message"]) != asymmetric.digest_length(algorithm):
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
    return key.arn, _private_key(services.keyring.current(key)), algorithm, message_type


def _sign_or_verify_errors(exc: asymmetric.AsymmetricError) -> Exception:
    if isinstance(exc, asymmetric.DigestLengthError):
        return ValidationException(f"Digest is invalid length for algorithm {exc.algorithm}.")
    if isinstance(exc, asymmetric.MessageTypeMismatch):
        return ValidationException(
            f"Signing algorithm {exc.algorithm} does not support MessageType {exc.message_type}."
        )
    if isinstance(exc, asymmetric.AlgorithmMismatch):
        return InvalidKeyUsageException(f"Algorithm {exc.algorithm} is incompatible with key spec {exc.spec}.")
    return exc


def sign(services: Services, ctx: RequestContext, req: Request) -> Response:
    arn, private_key, algorithm, message_type = _signing_call(services, ctx, req, "Sign")
    try:
        signature = private_key.sign(algorithm, req["Message"], message_type)
    except asymmetric.AsymmetricError as exc:
        raise _sign_or_verify_errors(exc) from None
    finish_dry_run(req)  # signing changes nothing: checking after it lets the recipe validate everything first
    return {"KeyId": arn, "Signature": signature, "SigningAlgorithm": algorithm}


def verify(services: Services, ctx: RequestContext, req: Request) -> Response:
    arn, private_key, algorithm, message_type = _signing_call(services, ctx, req, "Verify")
    try:
        valid = private_key.verify(algorithm, req["Message"], message_type, req["Signature"])
    except asymmetric.AsymmetricError as exc:
        raise _sign_or_verify_errors(exc) from None
    finish_dry_run(req)
    if not valid:
        raise KMSInvalidSignatureException()
    return {"KeyId": arn, "SignatureValid": True, "SigningAlgorithm": algorithm}


def get_public_key(services: Services, ctx: RequestContext, req: Request) -> Response:
    key = key_for(
        services.reads,
        services,
        ctx,
        req["KeyId"],
        action="kms:GetPublicKey",
        allow_alias=True,
        tokens=req.get("GrantTokens", ()),
    )
    key.require_state_for("GetPublicKey")
    if not key.spec.is_asymmetric:
        raise UnsupportedOperationException(f"{key.arn} key usage is {key.usage} which is not valid for GetPublicKey.")
    response: Response = {
        "KeyId": key.arn,
        "PublicKey": _private_key(services.keyring.current(key)).public_key_der(),
    }
    if key.spec_name in CUSTOMER_MASTER_KEY_SPECS:
        response["CustomerMasterKeySpec"] = key.spec_name
    response["KeySpec"] = key.spec_name
    response["KeyUsage"] = str(key.usage)
    response.update({name: list(algs) for name, algs in key.spec.algorithms_for(key.usage).items()})
    return response


def _mac_call(services: Services, ctx: RequestContext, req: Request, operation: str) -> tuple[str, bytes, str]:
    algorithm = req["MacAlgorithm"]
    key = key_for_use(
        services,
        ctx,
        req["KeyId"],
        operation=operation,
        usage=KeyUsage.GENERATE_VERIFY_MAC,
        facts={"kms:MacAlgorithm": algorithm},
        tokens=req.get("GrantTokens", ()),
    )
    check_algorithm(key, algorithm, key.spec.mac_algorithms)
    finish_dry_run(req)
    return key.arn, services.keyring.current(key).raw, algorithm


def generate_mac(services: Services, ctx: RequestContext, req: Request) -> Response:
    arn, material, algorithm = _mac_call(services, ctx, req, "GenerateMac")
    return {
        "Mac": mac.generate_mac(material, algorithm, req["Message"]),
        "MacAlgorithm": algorithm,
        "KeyId": arn,
    }


def verify_mac(services: Services, ctx: RequestContext, req: Request) -> Response:
    arn, material, algorithm = _mac_call(services, ctx, req, "VerifyMac")
    if not mac.verify_mac(material, algorithm, req["Message"], req["Mac"]):
        raise KMSInvalidMacException()
    return {"KeyId": arn, "MacValid": True, "MacAlgorithm": algorithm}


def derive_shared_secret(services: Services, ctx: RequestContext, req: Request) -> Response:
    refuse_recipient(req)
    algorithm = req["KeyAgreementAlgorithm"]
    key = key_for_use(
        services,
        ctx,
        req["KeyId"],
        operation="DeriveSharedSecret",
        usage=KeyUsage.KEY_AGREEMENT,
        facts={"kms:KeyAgreementAlgorithm": algorithm},
        tokens=req.get("GrantTokens", ()),
    )
    check_algorithm(key, algorithm, key.spec.key_agreement_algorithms)
    private_key = _private_key(services.keyring.current(key))
    try:
        secret = private_key.derive_shared_secret(req["PublicKey"])
    except asymmetric.InvalidPeerKey:
        raise ValidationException() from None  # as AWS answers it: no message
    finish_dry_run(req)
    return {
        "KeyId": key.arn,
        "SharedSecret": secret,
        "KeyAgreementAlgorithm": algorithm,
        "KeyOrigin": key.origin,
    }


def generate_random(services: Services, ctx: RequestContext, req: Request) -> Response:
    refuse_recipient(req)
    authorize_iam(services, ctx, "kms:GenerateRandom", "*")
    if "CustomKeyStoreId" in req:
        raise CustomKeyStoreNotFoundException("The specified custom key store does not exist.")
    if "NumberOfBytes" not in req:
        raise ValidationException("NumberOfBytes is required.")
    return {"Plaintext": secrets.token_bytes(req["NumberOfBytes"])}
