"""Every KMS operation, once: what AWS's permission model and its audit trail say about it.

One entry per operation of the botocore `kms` model (a test holds the two equal), read by the edge (is it an
operation at all; does it change state), by authorization (`trent.domain.authz`: who may be allowed, and whether
a grant can allow it) and by the audit trail (`readOnly`, and whether `responseElements` is logged). The handler
that answers an operation is bound to its name in `trent.api.handlers.HANDLERS`: the domain cannot name handlers,
and an operation without a handler is answered `UnsupportedOperationException`.

The facts come from docs/authorization.md ("Which policies decide") and docs/decisions.md; AWS's own sources are
the KMS permissions reference (cross-account use, policy type) and CloudTrail's `readOnly` per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Authority(StrEnum):
    """Which policies decide an operation's actions."""

    #: The key policy, the caller's identity policies and the key's grants; callers of other accounts too.
    KEY = "key"
    #: As KEY, but only callers of the key's own account: whatever another account is given has no effect.
    OWN_ACCOUNT = "own-account"
    #: No key policy is in play (no key, or not yet one): the caller's identity policies alone.
    IAM = "iam"


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    #: CloudTrail's `readOnly`: the operation changes nothing (the cryptographic operations included). Calls that
    #: change state are audited in their own transaction, with `responseElements`.
    read_only: bool
    authority: Authority
    #: The grant operations that allow its actions (grant operations are named after the actions they allow).
    grant_operations: tuple[str, ...] = ()
    #: The IAM actions it needs; `kms:<name>` unless it needs others.
    actions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.actions:
            object.__setattr__(self, "actions", (f"kms:{self.name}",))


def _op(
    name: str,
    read_only: bool,
    authority: Authority,
    *,
    grantable: bool = False,
    actions: tuple[str, ...] = (),
) -> Operation:
    names = actions or (f"kms:{name}",)
    grant_operations = tuple(action.removeprefix("kms:") for action in names) if grantable else ()
    return Operation(name, read_only, authority, grant_operations, names)


_KEY, _OWN, _IAM = Authority.KEY, Authority.OWN_ACCOUNT, Authority.IAM
READS, WRITES = True, False

OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        # Keys
        _op("CreateKey", WRITES, _IAM),
        _op("DescribeKey", READS, _KEY, grantable=True),
        _op("ListKeys", READS, _IAM),
        _op("UpdateKeyDescription", WRITES, _OWN),
        _op("EnableKey", WRITES, _OWN),
        _op("DisableKey", WRITES, _OWN),
        _op("ScheduleKeyDeletion", WRITES, _OWN),
        _op("CancelKeyDeletion", WRITES, _OWN),
        _op("GetKeyPolicy", READS, _OWN),
        _op("PutKeyPolicy", WRITES, _OWN),
        _op("ListKeyPolicies", READS, _OWN),
        _op("GetKeyLastUsage", READS, _KEY),
        # Aliases (the alias's own permission is decided by identity policies, the key's by its key policy)
        _op("CreateAlias", WRITES, _OWN),
        _op("UpdateAlias", WRITES, _OWN),
        _op("DeleteAlias", WRITES, _OWN),
        _op("ListAliases", READS, _IAM),
        # Tags
        _op("TagResource", WRITES, _OWN),
        _op("UntagResource", WRITES, _OWN),
        _op("ListResourceTags", READS, _OWN),
        # Rotation
        _op("EnableKeyRotation", WRITES, _OWN),
        _op("DisableKeyRotation", WRITES, _OWN),
        _op("GetKeyRotationStatus", READS, _KEY),
        _op("RotateKeyOnDemand", WRITES, _OWN),
        _op("ListKeyRotations", READS, _OWN),
        # Cryptography
        _op("Encrypt", READS, _KEY, grantable=True),
        _op("Decrypt", READS, _KEY, grantable=True),
        _op("ReEncrypt", READS, _KEY, grantable=True, actions=("kms:ReEncryptFrom", "kms:ReEncryptTo")),
        _op("GenerateDataKey", READS, _KEY, grantable=True),
        _op("GenerateDataKeyWithoutPlaintext", READS, _KEY, grantable=True),
        _op("GenerateDataKeyPair", READS, _KEY, grantable=True),
        _op("GenerateDataKeyPairWithoutPlaintext", READS, _KEY, grantable=True),
        _op("Sign", READS, _KEY, grantable=True),
        _op("Verify", READS, _KEY, grantable=True),
        _op("GetPublicKey", READS, _KEY, grantable=True),
        _op("GenerateMac", READS, _KEY, grantable=True),
        _op("VerifyMac", READS, _KEY, grantable=True),
        _op("DeriveSharedSecret", READS, _KEY, grantable=True),
        _op("Encapsulate", READS, _KEY, grantable=True),
        _op("Decapsulate", READS, _KEY, grantable=True),
        _op("GenerateRandom", READS, _IAM),
        # Grants (RetireGrant has rules of its own: `trent.domain.authz._retire`)
        _op("CreateGrant", WRITES, _KEY, grantable=True),
        _op("ListGrants", READS, _KEY),
        _op("ListRetirableGrants", READS, _IAM),
        _op("RetireGrant", WRITES, _KEY, grantable=True),
        _op("RevokeGrant", WRITES, _KEY),
        # Imported key material and multi-Region keys: none of them works across accounts
        _op("GetParametersForImport", READS, _OWN),
        _op("ImportKeyMaterial", WRITES, _OWN),
        _op("DeleteImportedKeyMaterial", WRITES, _OWN),
        _op("ReplicateKey", WRITES, _OWN),
        _op("UpdatePrimaryRegion", WRITES, _OWN),
        # Custom key stores (no key of their own)
        _op("CreateCustomKeyStore", WRITES, _IAM),
        _op("DescribeCustomKeyStores", READS, _IAM),
        _op("UpdateCustomKeyStore", WRITES, _IAM),
        _op("DeleteCustomKeyStore", WRITES, _IAM),
        _op("ConnectCustomKeyStore", WRITES, _IAM),
        _op("DisconnectCustomKeyStore", WRITES, _IAM),
    )
}

#: IAM action -> the operation that needs it ("kms:ReEncryptFrom" -> ReEncrypt).
_BY_ACTION: Mapping[str, Operation] = {action: op for op in OPERATIONS.values() for action in op.actions}
_BY_FOLDED_ACTION: Mapping[str, Operation] = {action.lower(): op for action, op in _BY_ACTION.items()}


def operation_of(action: str) -> Operation | None:
    """The operation whose action `action` is (IAM action names are case-insensitive), or None."""
    return _BY_ACTION.get(action) or _BY_FOLDED_ACTION.get(action.lower())


def grant_operation(action: str) -> str | None:
    """The grant operation that allows `action` ("kms:Decrypt" -> "Decrypt"), or None if no grant can."""
    op = _BY_ACTION.get(action)
    if op is None or not op.grant_operations:
        return None
    return action.removeprefix("kms:")


def iam_only(action: str) -> bool:
    """Whether identity policies alone decide `action` (compared without case, as IAM compares actions)."""
    op = operation_of(action)
    return op is not None and op.authority is Authority.IAM


def own_account_only(action: str) -> bool:
    """Whether only the key's own account may be allowed `action`."""
    op = _BY_ACTION.get(action)
    return op is not None and op.authority is Authority.OWN_ACCOUNT
