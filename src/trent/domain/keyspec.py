"""Key specs, key usages and the algorithms each allows: algorithms are data, not `if` chains."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class KeyUsage(StrEnum):
    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
    KEY_AGREEMENT = "KEY_AGREEMENT"


class KeyFamily(StrEnum):
    SYMMETRIC = "SYMMETRIC"
    RSA = "RSA"
    EC = "EC"
    ED25519 = "ED25519"
    HMAC = "HMAC"


RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
# In AWS's order (KeyMetadata.SigningAlgorithms, GetPublicKey): PKCS #1 v1.5 first.
RSA_SIGNING = (
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
)


@dataclass(frozen=True, slots=True)
class KeySpecInfo:
    """What a key spec is and what it may do."""

    name: str
    family: KeyFamily
    usages: tuple[KeyUsage, ...]  # the first is the default where AWS has one (only SYMMETRIC_DEFAULT)
    size: int  # bits: AES/HMAC key length, RSA modulus, EC curve order size
    encryption_algorithms: tuple[str, ...] = ()
    signing_algorithms: tuple[str, ...] = ()
    mac_algorithms: tuple[str, ...] = ()
    key_agreement_algorithms: tuple[str, ...] = ()

    @property
    def is_symmetric(self) -> bool:
        return self.family is KeyFamily.SYMMETRIC

    @property
    def is_asymmetric(self) -> bool:
        return self.family in (KeyFamily.RSA, KeyFamily.EC, KeyFamily.ED25519)

    def algorithms_for(self, usage: KeyUsage) -> dict[str, tuple[str, ...]]:
        """The KeyMetadata algorithm lists this spec advertises under `usage`."""
        if usage is KeyUsage.ENCRYPT_DECRYPT:
            return {"EncryptionAlgorithms": self.encryption_algorithms}
        if usage is KeyUsage.SIGN_VERIFY:
            return {"SigningAlgorithms": self.signing_algorithms}
        if usage is KeyUsage.GENERATE_VERIFY_MAC:
            return {"MacAlgorithms": self.mac_algorithms}
        return {"KeyAgreementAlgorithms": self.key_agreement_algorithms}


def _rsa(bits: int) -> KeySpecInfo:
    return KeySpecInfo(
        f"RSA_{bits}",
        KeyFamily.RSA,
        (KeyUsage.ENCRYPT_DECRYPT, KeyUsage.SIGN_VERIFY),
        bits,
        encryption_algorithms=RSA_ENCRYPTION,
        signing_algorithms=RSA_SIGNING,
    )


def _nist(name: str, bits: int, ecdsa: str) -> KeySpecInfo:
    return KeySpecInfo(
        name,
        KeyFamily.EC,
        (KeyUsage.SIGN_VERIFY, KeyUsage.KEY_AGREEMENT),
        bits,
        signing_algorithms=(ecdsa,),
        key_agreement_algorithms=("ECDH",),
    )


def _hmac(bits: int) -> KeySpecInfo:
    return KeySpecInfo(
        f"HMAC_{bits}",
        KeyFamily.HMAC,
        (KeyUsage.GENERATE_VERIFY_MAC,),
        bits,
        mac_algorithms=(f"HMAC_SHA_{bits}",),
    )


KEY_SPECS: dict[str, KeySpecInfo] = {
    spec.name: spec
    for spec in (
        KeySpecInfo(
            "SYMMETRIC_DEFAULT",
            KeyFamily.SYMMETRIC,
            (KeyUsage.ENCRYPT_DECRYPT,),
            256,
            encryption_algorithms=("SYMMETRIC_DEFAULT",),
        ),
        _rsa(2048),
        _rsa(3072),
        _rsa(4096),
        _nist("ECC_NIST_P256", 256, "ECDSA_SHA_256"),
        _nist("ECC_NIST_P384", 384, "ECDSA_SHA_384"),
        _nist("ECC_NIST_P521", 521, "ECDSA_SHA_512"),
        KeySpecInfo(
            "ECC_SECG_P256K1",
            KeyFamily.EC,
            (KeyUsage.SIGN_VERIFY,),
            256,
            signing_algorithms=("ECDSA_SHA_256",),
        ),
        KeySpecInfo(
            "ECC_NIST_EDWARDS25519",
            KeyFamily.ED25519,
            (KeyUsage.SIGN_VERIFY,),
            256,
            signing_algorithms=("ED25519_SHA_512", "ED25519_PH_SHA_512"),
        ),
        _hmac(224),
        _hmac(256),
        _hmac(384),
        _hmac(512),
    )
}

#: Specs in the model that Trent does not implement (post-quantum, China regions).
UNSUPPORTED_SPECS = frozenset({"SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"})

#: The deprecated CustomerMasterKeySpec covers the specs that existed before it was replaced by KeySpec.
CUSTOMER_MASTER_KEY_SPECS = frozenset(
    {
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "SYMMETRIC_DEFAULT",
        "HMAC_224",
        "HMAC_256",
        "HMAC_384",
        "HMAC_512",
        "SM2",
    }
)
