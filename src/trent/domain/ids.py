"""Parsing of the identifiers KMS accepts: key IDs, key ARNs, alias names and alias ARNs.

Every handler resolves `KeyId`-like members through `parse_key_reference`, so the accepted forms and the
AWS error wording for malformed identifiers live in this one module.
"""

from __future__ import annotations

import re
import uuid
from enum import Enum
from typing import NamedTuple

from trent.domain.errors import InvalidArnException, NotFoundException

ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
KEY_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
ALIAS_NAME_RE = re.compile(r"alias/[a-zA-Z0-9/_-]+")


MULTI_REGION_PREFIX = "mrk-"


def is_multi_region_id(key_id: str) -> bool:
    return key_id.startswith(MULTI_REGION_PREFIX)


def new_key_id(*, multi_region: bool = False) -> str:
    """A fresh key ID: a UUID, or for a multi-Region key `mrk-` and 32 hex digits (AWS's form: no dashes)."""
    return MULTI_REGION_PREFIX + uuid.uuid4().hex if multi_region else str(uuid.uuid4())


def key_ref(key_id: str, region: str) -> str:
    """The store's name for the key `key_id` of `region`: the key ID itself, but for multi-Region keys, whose
    related keys share their ID, `<id>/<region>`. Whatever hangs on one key (its row, material, tags, aliases,
    grants, import parameters) and every cache of them is named by it, so related keys share nothing by
    accident: a ref built without the region finds nothing."""
    return f"{key_id}/{region}" if key_id.startswith(MULTI_REGION_PREFIX) else key_id


def key_id_of_ref(ref: str) -> str:
    return ref.partition("/")[0]


def key_id_bytes(key_id: str) -> bytes:
    """The 16 bytes of a key ID (a UUID's, or the 32 hex digits of a multi-Region key's)."""
    raw = bytes.fromhex(key_id.removeprefix(MULTI_REGION_PREFIX).replace("-", ""))
    if len(raw) != 16:
        raise ValueError("not a key ID Trent makes")
    return raw


def key_arn(region: str, account: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def alias_arn(region: str, account: str, alias_name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:{alias_name}"


def account_root_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


class RefKind(Enum):
    KEY = "key"
    ALIAS = "alias"


class KeyReference(NamedTuple):
    """A parsed key identifier. `account` is None when the caller gave a bare key ID or alias name."""

    kind: RefKind
    name: str  # key ID, or alias name ("alias/...")
    account: str | None
    is_arn: bool


def parse_key_reference(raw: str, *, region: str, allow_alias: bool, alias_error: str = "keyId") -> KeyReference:
    """Parse `raw` as a key ID, key ARN, alias name or alias ARN.

    :raises NotFoundException: for malformed identifiers (AWS: ``Invalid keyId '<value>'``) and ARNs of another
        region (AWS: ``Invalid arn <region>``).
    :raises InvalidArnException: for aliases where the operation accepts none (grant operations).
    """
    if raw.startswith("arn:"):
        parts = raw.split(":", 5)
        if len(parts) != 6 or parts[1] != "aws" or parts[2] != "kms" or not ACCOUNT_ID_RE.fullmatch(parts[4]):
            raise (
                NotFoundException(f"Invalid arn {raw}")
                if raw.count(":") < 5
                else InvalidArnException(f"Invalid arn {raw}")
            )
        arn_region, account, resource = parts[3], parts[4], parts[5]
        if arn_region != region:
            raise NotFoundException(f"Invalid arn {arn_region}")
        if resource.startswith("key/") and KEY_ID_RE.fullmatch(resource[4:]):
            return KeyReference(RefKind.KEY, resource[4:], account, True)
        if resource.startswith("alias/") and ALIAS_NAME_RE.fullmatch(resource):
            if not allow_alias:
                raise InvalidArnException("Key Aliases are not supported for this operation.")
            return KeyReference(RefKind.ALIAS, resource, account, True)
        raise NotFoundException(f"Invalid keyId '{raw}'")
    if raw.startswith("alias/"):
        if not allow_alias:
            raise InvalidArnException("Key Aliases are not supported for this operation.")
        if not ALIAS_NAME_RE.fullmatch(raw):
            raise NotFoundException(f"Invalid keyId '{raw}'")
        return KeyReference(RefKind.ALIAS, raw, None, False)
    if KEY_ID_RE.fullmatch(raw):
        return KeyReference(RefKind.KEY, raw, None, False)
    raise NotFoundException(f"Invalid keyId '{raw}'")
