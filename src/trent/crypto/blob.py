"""The ciphertext blob of symmetric encryption keys, version 1.

    0      1                17                 21         33
    | 0x01 | key ID (16 B)  | material version | nonce    | AES-256-GCM ciphertext || tag (16 B) |
                              (uint32, big end.) (12 B)

The first byte is 0x02 instead for a multi-Region key (ID `mrk-` + the 32 hex digits of its 16 bytes): its
related keys in other Regions share ID and material, so any of them opens the blob.

The header (version, key ID, material version) tells Decrypt which key and which key material to use, so
Decrypt needs no KeyId and ciphertexts made before a rotation still decrypt. The header and the canonical
encoding of the encryption context are the AEAD's associated data: changing any byte of the blob, or any
character of the context, fails authentication. Every failure raises the same `InvalidBlob`, with no detail.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trent.crypto.fast import nonce as fresh_nonce

FORMAT_V1 = 0x01
FORMAT_V1_MULTI_REGION = 0x02
_MULTI_REGION_PREFIX = "mrk-"
_HEADER = struct.Struct(">B16sI")
_NONCE_BYTES = 12
_TAG_BYTES = 16
HEADER_BYTES = _HEADER.size
OVERHEAD = HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES
_AAD_PREFIX = b"trent/ciphertext/v1\x00"


#: A symmetric key's material, prepared for sealing and opening blobs (preparing costs more than one operation).
SealingKey = AESGCM


def sealing_key(material: bytes) -> SealingKey:
    return AESGCM(material)


class InvalidBlob(Exception):
    """The blob is malformed, names another format, or does not authenticate. Deliberately uninformative."""


class BlobHeader(NamedTuple):
    key_id: str
    material_version: int


def encode_context(context: Mapping[str, str] | None) -> bytes:
    """An unambiguous, order-independent encoding of an encryption context.

    Pairs are sorted by the UTF-8 bytes of their keys, and every key and value is length-prefixed, so
    ``{"ab": "c"}`` and ``{"a": "bc"}`` encode differently and no two distinct contexts encode the same.
    """
    if not context:
        return b"\x00\x00\x00\x00"
    pairs = sorted((k.encode(), v.encode()) for k, v in context.items())
    parts = [struct.pack(">I", len(pairs))]
    for key, value in pairs:
        parts.append(struct.pack(">I", len(key)))
        parts.append(key)
        parts.append(struct.pack(">I", len(value)))
        parts.append(value)
    return b"".join(parts)


def parse_header(blob: bytes) -> BlobHeader:
    if len(blob) < OVERHEAD or blob[0] not in (FORMAT_V1, FORMAT_V1_MULTI_REGION):
        raise InvalidBlob
    kind, key_bytes, version = _HEADER.unpack_from(blob)
    digits = key_bytes.hex()
    if kind == FORMAT_V1_MULTI_REGION:
        return BlobHeader(_MULTI_REGION_PREFIX + digits, version)
    # The canonical text of the key ID, as str(uuid.UUID(bytes=key_bytes)) gives it.
    return BlobHeader(f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}", version)


def seal(
    aead: AESGCM, key_id: str, material_version: int, plaintext: bytes, context: Mapping[str, str] | None
) -> bytes:
    # Key IDs are canonical UUID text or `mrk-` + 32 hex digits (Trent makes them): the digits are the 16 bytes.
    multi_region = key_id.startswith(_MULTI_REGION_PREFIX)
    key_bytes = bytes.fromhex(key_id.removeprefix(_MULTI_REGION_PREFIX).replace("-", ""))
    if len(key_bytes) != 16:
        raise ValueError("not a key ID Trent makes")
    header = _HEADER.pack(FORMAT_V1_MULTI_REGION if multi_region else FORMAT_V1, key_bytes, material_version)
    nonce = fresh_nonce(_NONCE_BYTES)
    return header + nonce + aead.encrypt(nonce, plaintext, _AAD_PREFIX + header + encode_context(context))


def open_blob(aead: AESGCM, blob: bytes, context: Mapping[str, str] | None) -> bytes:
    """Decrypt a blob whose header was read with `parse_header` and whose key material is `aead`."""
    if len(blob) < OVERHEAD:
        raise InvalidBlob
    header = blob[:HEADER_BYTES]
    nonce = blob[HEADER_BYTES : HEADER_BYTES + _NONCE_BYTES]
    try:
        return aead.decrypt(nonce, blob[HEADER_BYTES + _NONCE_BYTES :], _AAD_PREFIX + header + encode_context(context))
    except InvalidTag:
        raise InvalidBlob from None
