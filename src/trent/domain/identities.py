"""Accounts, IAM users and roles, access keys, and the caller a request is made by."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from trent.domain.ids import account_root_arn


class PrincipalType(StrEnum):
    ROOT = "Root"
    USER = "IAMUser"
    ROLE = "Role"  # a role itself never calls; its sessions do
    ASSUMED_ROLE = "AssumedRole"


def user_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def assumed_role_arn(account: str, role_name: str, session_name: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"


@dataclass(frozen=True, slots=True)
class Principal:
    """An IAM identity stored in Trent: an account root, a user or a role."""

    arn: str
    account: str
    type: PrincipalType
    name: str
    unique_id: str  # AIDA… for users, AROA… for roles, the account ID for a root
    trust_policy: str | None = None
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An access key pair. `secret` is the unwrapped secret key; it stays in memory only."""

    access_key_id: str
    principal_arn: str
    secret: str
    created: float
    #: Temporary credentials (AssumeRole) carry a session and expire.
    session_token_hash: bytes | None = None
    session_name: str | None = None
    expiration: float | None = None
    #: "Active" or "Inactive" (IAM's UpdateAccessKey): an Inactive key authenticates nothing.
    status: str = "Active"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request, as authorization and audit see it."""

    account: str
    arn: str
    type: PrincipalType
    user_id: str  # aws:userid: AIDA…, AROA…:session, or the account ID for a root
    access_key_id: str
    #: For an assumed-role session, the role's ARN (role principals in policies match their sessions).
    role_arn: str | None = None
    user_name: str | None = None
    #: Computed once: a caller is part of the key of several caches (decisions, identities, grantee names) that a
    #: request looks up, and hashing its seven fields (an enum among them) each time cost ~0.25 µs a lookup.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        fields = (self.account, self.arn, self.type, self.user_id, self.access_key_id, self.role_arn, self.user_name)
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def account_root(cls, account: str, access_key_id: str) -> Caller:
        return cls(account, account_root_arn(account), PrincipalType.ROOT, account, access_key_id)
