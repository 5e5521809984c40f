"""Parsing of the identifiers KMS accepts: key IDs, key ARNs, alias names and alias ARNs.

Every handler resolves `KeyId`-like members through `parse_key_reference`, so the accepted forms and the
AWS error wording for malformed identifiers live in this one module.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

from trent.domain.errors import InvalidArnException, NotFoundException

ACCOUNT_ID_RE = re.compile(r"[0-9]{12}")
KEY_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}")
ALIAS_NAME_RE = re.compile(r"alias/[a-zA-Z0-9/_-]+")


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
