"""Asymmetric operations of KMS keys: Sign/Verify, RSA OAEP, ECDH, GetPublicKey and data key pairs.

Key material is a PKCS#8 DER private key (see `trent.crypto.keygen`). Everything is done with
`cryptography` except Ed25519ph (RFC 8032 §5.1 with phflag=1 and an empty context), which it lacks; that
is libsodium's, through PyNaCl, at the bottom of this module. No curve arithmetic is done in Python.

This module knows nothing of AWS errors: it raises the `AsymmetricError` subclasses below and the API
layer maps them. Anything else it raises (`ValueError` for material that does not match its spec, an
unknown algorithm in `digest_length`) is a programming or storage error, not the caller's fault.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError

from trent.domain.keyspec import KEY_SPECS

RAW = "RAW"
DIGEST = "DIGEST"

# ---------------------------------------------------------------------------------------------- errors


class AsymmetricError(Exception):
    """Base of every error this module raises because of what the caller asked for."""


class DigestLengthError(AsymmetricError):
    """MessageType DIGEST with a message whose length is not the algorithm's digest length."""

    def __init__(self, algorithm: str) -> None:
        super().__init__(f"Digest is invalid length for algorithm {algorithm}.")
        self.algorithm = algorithm


class AlgorithmMismatch(AsymmetricError):
    """The algorithm is not one the key spec supports for this operation."""

    def __init__(self, algorithm: str, spec: str) -> None:
        super().__init__(f"Algorithm {algorithm} is not supported by key spec {spec}.")
        self.algorithm = algorithm
        self.spec = spec


class MessageTypeMismatch(AsymmetricError):
    """The message type cannot be used with the algorithm (e.g. ED25519_SHA_512 with DIGEST)."""

    def __init__(self, algorithm: str, message_type: str) -> None:
        super().__init__(f"Message type {message_type} is not supported by algorithm {algorithm}.")
        self.algorithm = algorithm
        self.message_type = message_type


class PlaintextTooLarge(AsymmetricError):
    """The plaintext exceeds what RSA OAEP can encrypt with this key and hash."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Plaintext must be at most {limit} bytes for this key and algorithm.")
        self.limit = limit


class DecryptionFailed(AsymmetricError):
    """RSA decryption failed. Deliberately carries no detail, so it cannot serve as a padding oracle."""

    def __init__(self) -> None:
        super().__init__("Decryption failed.")


class InvalidPeerKey(AsymmetricError):
    """The ECDH peer public key is not a DER SubjectPublicKeyInfo of a point on the key's curve."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedSpec(AsymmetricError):
    """A key spec or key pair spec this module cannot handle (symmetric, SM2, ML-DSA, ML-KEM, ...)."""

    def __init__(self, spec: str) -> None:
        super().__init__(f"Key spec {spec} is not supported.")
        self.spec = spec


# ---------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class _Signing:
    hash: type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]
    scheme: str  # "PSS", "PKCS1", "ECDSA", "ED25519" or "ED25519PH"


_SIGNING: dict[str, _Signing] = {
    "RSASSA_PSS_SHA_256": _Signing(hashes.SHA256, "PSS"),
    "RSASSA_PSS_SHA_384": _Signing(hashes.SHA384, "PSS"),
    "RSASSA_PSS_SHA_512": _Signing(hashes.SHA512, "PSS"),
    "RSASSA_PKCS1_V1_5_SHA_256": _Signing(hashes.SHA256, "PKCS1"),
    "RSASSA_PKCS1_V1_5_SHA_384": _Signing(hashes.SHA384, "PKCS1"),
    "RSASSA_PKCS1_V1_5_SHA_512": _Signing(hashes.SHA512, "PKCS1"),
    "ECDSA_SHA_256": _Signing(hashes.SHA256, "ECDSA"),
    "ECDSA_SHA_384": _Signing(hashes.SHA384, "ECDSA"),
    "ECDSA_SHA_512": _Signing(hashes.SHA512, "ECDSA"),
    "ED25519_SHA_512": _Signing(hashes.SHA512, "ED25519"),
    "ED25519_PH_SHA_512": _Signing(hashes.SHA512, "ED25519PH"),
}

# The one message type each EdDSA algorithm accepts; the others accept RAW and DIGEST.
_EDDSA_MESSAGE_TYPE = {"ED25519": RAW, "ED25519PH": DIGEST}

_OAEP_HASHES: dict[str, type[hashes.SHA1 | hashes.SHA256]] = {
    "RSAES_OAEP_SHA_1": hashes.SHA1,
    "RSAES_OAEP_SHA_256": hashes.SHA256,
}

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_ED25519 = "ECC_NIST_EDWARDS25519"

#: The KeyPairSpec values of GenerateDataKeyPair that Trent implements.
KEY_PAIR_SPECS = frozenset({*_RSA_BITS, *_CURVES, _ED25519})

_AnyPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_AnyPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def digest_length(algorithm: str) -> int:
    """Bytes a MessageType DIGEST message must have for signing `algorithm` (32, 48 or 64)."""
    try:
        return _SIGNING[algorithm].hash.digest_size
    except KeyError:
        raise ValueError(f"not a signing algorithm: {algorithm}") from None


def rsa_oaep_plaintext_limit(spec: str, algorithm: str) -> int:
    """Largest plaintext RSA OAEP can encrypt: k - 2*hLen - 2 bytes (RFC 8017 §7.1.1)."""
    if spec not in _RSA_BITS or algorithm not in _OAEP_HASHES:
        raise AlgorithmMismatch(algorithm, spec)
    return _RSA_BITS[spec] // 8 - 2 * _OAEP_HASHES[algorithm].digest_size - 2


def generate_key_pair(pair_spec: str) -> tuple[bytes, bytes]:
    """A fresh key pair for GenerateDataKeyPair: (PKCS#8 DER private key, SubjectPublicKeyInfo DER)."""
    private_key: _AnyPrivateKey
    if pair_spec in _RSA_BITS:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[pair_spec])
    elif pair_spec in _CURVES:
        private_key = ec.generate_private_key(_CURVES[pair_spec]())
    elif pair_spec == _ED25519:
        private_key = ed25519.Ed25519PrivateKey.generate()
    else:
        raise UnsupportedSpec(pair_spec)
    private_der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private_der, _spki(private_key.public_key())


def _spki(public_key: _AnyPublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------------------------------------- keys


class PrivateKey:
    """A loaded private key of one KMS key version; build once and reuse.

    Loading PKCS#8 costs ~40-200 µs for EC and Ed25519 keys, but 50-500 ms for RSA, where OpenSSL checks
    the primes. `skip_rsa_validation=True` skips that check (to ~20 µs); pass it only for material this
    server generated itself and got back authenticated from its store, never for imported material.
    """

    def __init__(self, spec: str, pkcs8_der: bytes, *, skip_rsa_validation: bool = False) -> None:
        info = KEY_SPECS.get(spec)
        if info is None or not info.is_asymmetric or spec not in KEY_PAIR_SPECS:
            raise UnsupportedSpec(spec)
        self.spec = spec
        self._info = info
        key = serialization.load_der_private_key(
            pkcs8_der, password=None, unsafe_skip_rsa_key_validation=skip_rsa_validation
        )
        # Stored material that disagrees with its spec is corruption, not a client error: fail loudly.
        if spec in _RSA_BITS:
            if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != _RSA_BITS[spec]:
                raise ValueError(f"key material is not an {spec} key")
        elif spec in _CURVES:
            if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, _CURVES[spec]):
                raise ValueError(f"key material is not an {spec} key")
        elif not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"key material is not an {spec} key")
        self._key: _AnyPrivateKey = key
        self._public: _AnyPublicKey = key.public_key()
        self._public_der = _spki(self._public)

    def public_key_der(self) -> bytes:
        """GetPublicKey: the DER SubjectPublicKeyInfo of the public key."""
        return self._public_der

    def _check_signing(self, algorithm: str, message: bytes, message_type: str) -> _Signing:
        """Validate in AWS's order: algorithm for the spec, message type for the algorithm, digest size."""
        if algorithm not in self._info.signing_algorithms or algorithm not in _SIGNING:
            raise AlgorithmMismatch(algorithm, self.spec)
        signing = _SIGNING[algorithm]
        eddsa_type = _EDDSA_MESSAGE_TYPE.get(signing.scheme)
        if message_type not in ((eddsa_type,) if eddsa_type else (RAW, DIGEST)):
            raise MessageTypeMismatch(algorithm, message_type)
        if message_type == DIGEST and len(message) != signing.hash.digest_size:
            raise DigestLengthError(algorithm)
        return signing

    @staticmethod
    def _hash_arg(signing: _Signing, message_type: str) -> hashes.HashAlgorithm | utils.Prehashed:
        # DIGEST: the caller already hashed; Prehashed makes cryptography skip its own hashing.
        return utils.Prehashed(signing.hash()) if message_type == DIGEST else signing.hash()

    @staticmethod
    def _rsa_padding(signing: _Signing) -> padding.AsymmetricPadding:
        if signing.scheme == "PSS":
            # AWS uses MGF1 with the message hash and a salt as long as the digest.
            return padding.PSS(mgf=padding.MGF1(signing.hash()), salt_length=signing.hash.digest_size)
        return padding.PKCS1v15()

    def sign(self, algorithm: str, message: bytes, message_type: str) -> bytes:
        """Sign `message` (RAW, or a DIGEST of the algorithm's hash) as AWS KMS Sign does.

        ECDSA signatures are DER-encoded. ED25519_PH_SHA_512 takes a 64-byte SHA-512 digest and still
        applies the Ed25519ph prehash to it, as KMS does: the digest bytes are the Ed25519ph message.
        """
        signing = self._check_signing(algorithm, message, message_type)
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(message, self._rsa_padding(signing), self._hash_arg(signing, message_type))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(message, ec.ECDSA(self._hash_arg(signing, message_type)))
        if signing.scheme == "ED25519":
            return key.sign(message)
        return ed25519ph_sign(_ed25519_seed(key), message)

    def verify(self, algorithm: str, message: bytes, message_type: str, signature: bytes) -> bool:
        """Whether `signature` is valid for `message`; False for any bad signature.

        Raises AlgorithmMismatch, MessageTypeMismatch or DigestLengthError before looking at the signature.
        """
        signing = self._check_signing(algorithm, message, message_type)
        public = self._public
        try:
            if isinstance(public, rsa.RSAPublicKey):
                rsa_padding = self._rsa_padding(signing)
                public.verify(signature, message, rsa_padding, self._hash_arg(signing, message_type))
            elif isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(signature, message, ec.ECDSA(self._hash_arg(signing, message_type)))
            elif signing.scheme == "ED25519":
                public.verify(signature, message)
            else:
                raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                return ed25519ph_verify(raw, message, signature)
        except (InvalidSignature, ValueError):
            # ValueError: a signature so malformed that cryptography rejects it before verifying.
            return False
        return True

    def _oaep(self, algorithm: str) -> padding.OAEP:
        if algorithm not in self._info.encryption_algorithms or algorithm not in _OAEP_HASHES:
            raise AlgorithmMismatch(algorithm, self.spec)
        digest = _OAEP_HASHES[algorithm]
        return padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)

    def encrypt(self, algorithm: str, plaintext: bytes) -> bytes:
        """RSA OAEP encryption with the public key (KMS Encrypt with an asymmetric key)."""
        oaep = self._oaep(algorithm)
        limit = rsa_oaep_plaintext_limit(self.spec, algorithm)
        if len(plaintext) > limit:
            raise PlaintextTooLarge(limit)
        assert isinstance(self._public, rsa.RSAPublicKey)  # _oaep accepted the algorithm, so the key is RSA
        return self._public.encrypt(plaintext, oaep)

    def decrypt(self, algorithm: str, ciphertext: bytes) -> bytes:
        """RSA OAEP decryption; every failure is the same DecryptionFailed, whatever went wrong."""
        oaep = self._oaep(algorithm)
        assert isinstance(self._key, rsa.RSAPrivateKey)
        try:
            return self._key.decrypt(ciphertext, oaep)
        except ValueError:
            raise DecryptionFailed() from None

    def derive_shared_secret(self, peer_public_der: bytes) -> bytes:
        """ECDH with a peer's DER SubjectPublicKeyInfo on the same curve: the raw x coordinate."""
        if "ECDH" not in self._info.key_agreement_algorithms:
            raise AlgorithmMismatch("ECDH", self.spec)
        assert isinstance(self._key, ec.EllipticCurvePrivateKey)
        try:
            peer = serialization.load_der_public_key(peer_public_der)
        except (ValueError, UnsupportedAlgorithm, TypeError):
            raise InvalidPeerKey("The public key is not a valid DER-encoded SubjectPublicKeyInfo.") from None
        if not isinstance(peer, ec.EllipticCurvePublicKey):
            raise InvalidPeerKey("The public key is not an elliptic curve key.")
        if peer.curve.name != self._key.curve.name:
            raise InvalidPeerKey(f"The public key is on curve {peer.curve.name}, not {self._key.curve.name}.")
        return self._key.exchange(ec.ECDH(), peer)


def _ed25519_seed(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


# ---------------------------------------------------------------------------------------------- Ed25519ph
#
# RFC 8032 §5.1 with phflag=1, context "" and PH = SHA-512, by libsodium (through PyNaCl): its scalar
# multiplication is constant time, which Python integers cannot be. `cryptography` has no Ed25519ph.


def ed25519ph_sign(seed: bytes, message: bytes) -> bytes:
    """Ed25519ph signature (64 bytes) of `message` with the 32-byte private seed (RFC 8032 §5.1.6).

    `message` is the Ed25519ph message: libsodium prehashes it with SHA-512 itself.
    """
    if len(seed) != sodium.crypto_sign_SEEDBYTES:
        raise ValueError("an Ed25519 seed is 32 bytes")
    # libsodium's secret key is seed || A and it signs with that A, so A must come from this very seed
    # (signing with a wrong A would leak the secret scalar): derive both here rather than accept them.
    _, secret_key = sodium.crypto_sign_seed_keypair(bytes(seed))
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, bytes(message))
    return sodium.crypto_sign_ed25519ph_final_create(state, secret_key)


def ed25519ph_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is a valid Ed25519ph signature of `message` under the 32-byte public key.

    False, never an exception, for any bad signature or public key, including ones of the wrong length.
    libsodium requires S < L and refuses small-order R and A; it checks [S]B = R + [k]A without the
    cofactor, which RFC 8032 permits and which decides differently only for signatures no signer makes.
    """
    if len(public) != sodium.crypto_sign_PUBLICKEYBYTES or len(signature) != sodium.crypto_sign_BYTES:
        return False  # PyNaCl would raise its TypeError
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, bytes(message))
    try:
        return sodium.crypto_sign_ed25519ph_final_verify(state, bytes(signature), bytes(public))
    except BadSignatureError:
        return False
