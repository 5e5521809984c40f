"""Grants: what a grant is, what it allows, how it may be narrowed when delegated, and how CreateGrant
requests are checked. Pure rules, no I/O (docs/grants.md, and Trent's choices in docs/decisions.md D1-D16)."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trent.domain.errors import ValidationException
from trent.domain.identities import Caller
from trent.domain.ids import account_root_arn, key_ref
from trent.domain.keys import Key
from trent.domain.keyspec import KeyFamily, KeyUsage

#: The GrantOperation enum of the botocore model, in its order (ListGrants emits operations in this order).
GRANT_OPERATIONS: tuple[str, ...] = (
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "Encapsulate",
    "Decapsulate",
)
_BIT = {name: 1 << index for index, name in enumerate(GRANT_OPERATIONS)}

MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_VALUE = 384
MAX_GRANTS_PER_KEY = 50_000

_ALWAYS = frozenset({"DescribeKey", "CreateGrant", "RetireGrant"})
_SUPPORTED: dict[tuple[KeyFamily | None, KeyUsage], frozenset[str]] = {
    (KeyFamily.SYMMETRIC, KeyUsage.ENCRYPT_DECRYPT): _ALWAYS
    | {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    },
    (KeyFamily.HMAC, KeyUsage.GENERATE_VERIFY_MAC): _ALWAYS | {"GenerateMac", "VerifyMac"},
    (None, KeyUsage.ENCRYPT_DECRYPT): _ALWAYS | {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"},
    (None, KeyUsage.SIGN_VERIFY): _ALWAYS | {"Sign", "Verify", "GetPublicKey"},
    (None, KeyUsage.KEY_AGREEMENT): _ALWAYS | {"DeriveSharedSecret", "GetPublicKey"},
}

#: Encryption-context constraints do not apply to these operations (a constrained grant still allows them).
#: For CreateGrant the constraints bind the grants it creates instead (`Constraints.at_least_as_strict_as`).
UNCONSTRAINED_OPERATIONS = frozenset({"DescribeKey", "RetireGrant", "CreateGrant"})
#: Operations whose requests carry an encryption context, so that EC constraints can hold for them.
EC_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "CreateGrant",
    }
)

_PRINCIPAL_ARN = re.compile(
    r"arn:aws:iam::[0-9]{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)"
    r"|arn:aws:sts::[0-9]{12}:(assumed-role/[\w+=,.@-]+/[\w+=,.@-]+|federated-user/[\w+=,.@-]+)"
)


def operations_mask(operations: Iterable[str]) -> int:
    mask = 0
    for operation in operations:
        mask |= _BIT[operation]
    return mask


def operations_of(mask: int) -> tuple[str, ...]:
    return tuple(name for name in GRANT_OPERATIONS if mask & _BIT[name])


def supported_operations(key: Key) -> frozenset[str]:
    """The grant operations a key of this type supports (docs/authorization.md, "Grant operations")."""
    family = key.spec.family
    specific = _SUPPORTED.get((family, key.usage))
    if specific is not None:
        return specific
    return _SUPPORTED.get((None, key.usage), _ALWAYS)


def _pairs(context: Mapping[str, str]) -> Counter[tuple[str, str]]:
    """The pairs of a context as grant constraints compare them: keys case-insensitively, values
    case-sensitively (docs/decisions.md D1). A multiset, so keys that differ only in case never collapse."""
    return Counter((k.lower(), v) for k, v in context.items())


@dataclass(frozen=True, slots=True)
class Constraints:
    equals: Mapping[str, str] | None = None
    subset: Mapping[str, str] | None = None
    source_arn: str | None = None

    @classmethod
    def from_api(cls, raw: Mapping[str, object] | None) -> Constraints | None:
        """Validate GrantConstraints from a request; None when absent (or given empty)."""
        if not raw:
            return None
        equals = raw.get("EncryptionContextEquals")
        subset = raw.get("EncryptionContextSubset")
        if equals is not None and subset is not None:
            raise ValidationException("More than one constraint supplied")
        for context in (equals, subset):
            if isinstance(context, Mapping):
                if len(context) > MAX_CONSTRAINT_PAIRS:
                    raise ValidationException(
                        f"A grant constraint can have at most {MAX_CONSTRAINT_PAIRS} encryption context pairs."
                    )
                for key, value in context.items():
                    if len(str(value)) > MAX_CONSTRAINT_VALUE:
                        raise ValidationException(
                            f"The value of encryption context key {key!r} in a grant constraint is longer than "
                            f"{MAX_CONSTRAINT_VALUE} characters."
                        )
        source_arn = raw.get("SourceArn")
        if equals is None and subset is None and source_arn is None:
            return None
        return cls(
            equals=dict(equals) if isinstance(equals, Mapping) else None,
            subset=dict(subset) if isinstance(subset, Mapping) else None,
            source_arn=str(source_arn) if source_arn is not None else None,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Constraints | None:
        return cls.from_api(json.loads(text)) if text else None

    def to_api(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.equals is not None:
            out["EncryptionContextEquals"] = dict(self.equals)
        if self.subset is not None:
            out["EncryptionContextSubset"] = dict(self.subset)
        if self.source_arn is not None:
            out["SourceArn"] = self.source_arn
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_api(), sort_keys=True)

    @property
    def constraint_type(self) -> str | None:
        if self.equals is not None:
            return "EncryptionContextEquals"
        if self.subset is not None:
            return "EncryptionContextSubset"
        return None

    @property
    def context(self) -> Mapping[str, str]:
        return self.equals if self.equals is not None else (self.subset or {})

    def holds_for(
        self, encryption_context: Mapping[str, str] | None, source_arn: str | None, *, check_context: bool = True
    ) -> bool:
        """Does a request with this encryption context (and source ARN) satisfy the constraints?"""
        if self.source_arn is not None and source_arn != self.source_arn:
            return False
        if not check_context:
            return True
        request = _pairs(encryption_context or {})
        if self.equals is not None:
            return request == _pairs(self.equals)
        if self.subset is not None:
            return all(request[pair] >= count for pair, count in _pairs(self.subset).items())
        return True

    def at_least_as_strict_as(self, parent: Constraints | None) -> bool:
        """May a grant with these constraints be created from a grant with `parent`'s (docs/decisions.md D11)?"""
        if parent is None:
            return True
        if parent.source_arn is not None and self.source_arn != parent.source_arn:
            return False
        if parent.equals is not None:
            return self.equals is not None and _pairs(self.equals) == _pairs(parent.equals)
        if parent.subset is not None:
            mine = self.equals if self.equals is not None else self.subset
            if mine is None:
                return False
            have = _pairs(mine)
            return all(have[pair] >= count for pair, count in _pairs(parent.subset).items())
        return True


def may_delegate(parent: Grant, operations: frozenset[str], constraints: Constraints | None) -> bool:
    """May `parent` (a grant with CreateGrant) create a grant for `operations` with `constraints`? (§7, §16.11)"""
    if not operations <= parent.operations:
        return False
    if parent.constraints is None:
        return True
    return constraints is not None and constraints.at_least_as_strict_as(parent.constraints)


def constraints_hold(
    constraints: Constraints | None, encryption_context: Mapping[str, str] | None, source_arn: str | None
) -> bool:
    return constraints is None or constraints.holds_for(encryption_context, source_arn)


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    key_id: str
    key_account: str
    key_region: str
    operations: frozenset[str]
    issuing_account: str
    creation_date: float
    name: str | None = None
    grantee_principal: str | None = None
    grantee_service_principal: str | None = None
    retiring_principal: str | None = None
    retiring_service_principal: str | None = None
    constraints: Constraints | None = None
    deleted_at: float | None = None
    #: The grant whose CreateGrant permission created this one (None: a key or identity policy did). Trent's own
    #: record of lineage: AWS has no such member, so neither ListGrants nor any KMS response shows it.
    parent_grant_id: str | None = None

    @property
    def key_arn(self) -> str:
        return f"arn:aws:kms:{self.key_region}:{self.key_account}:key/{self.key_id}"

    @property
    def key_ref(self) -> str:
        """The store's name of the grant's key: a grant is on one key, never on a related multi-Region key."""
        return key_ref(self.key_id, self.key_region)

    def is_retry_of(self, other: Grant) -> bool:
        """Same Name and the same parameters: a CreateGrant retry (docs/decisions.md D6)."""
        return (
            self.name == other.name
            and self.key_ref == other.key_ref
            and self.grantee_principal == other.grantee_principal
            and self.grantee_service_principal == other.grantee_service_principal
            and self.retiring_principal == other.retiring_principal
            and self.retiring_service_principal == other.retiring_service_principal
            and self.operations == other.operations
            and self.constraints == other.constraints
        )

    def usable_at(self, now: float, delay: float) -> bool:
        """Usable without a token: propagated (created at least `delay` ago) and not yet gone everywhere."""
        if self.creation_date + delay > now:
            return False
        return self.deleted_at is None or self.deleted_at + delay > now

    def allows(self, operation: str, encryption_context: Mapping[str, str] | None, source_arn: str | None) -> bool:
        if operation not in self.operations:
            return False
        if self.constraints is None or operation == "RetireGrant":
            return True  # no constraint applies to RetireGrant, not even SourceArn (docs/grants.md)
        if operation == "CreateGrant":
            # The encryption context binds the child grant instead (`may_delegate`); SourceArn applies as usual.
            return self.constraints.holds_for(None, source_arn, check_context=False)
        # SourceArn applies to every other operation, DescribeKey included; the encryption context does not
        # apply to DescribeKey.
        return self.constraints.holds_for(
            encryption_context, source_arn, check_context=operation not in UNCONSTRAINED_OPERATIONS
        )

    def list_entry(self) -> dict[str, object]:
        entry: dict[str, object] = {"KeyId": self.key_arn, "GrantId": self.grant_id}
        if self.name is not None:
            entry["Name"] = self.name
        entry["CreationDate"] = self.creation_date
        if self.grantee_principal is not None:
            entry["GranteePrincipal"] = self.grantee_principal
        if self.grantee_service_principal is not None:
            entry["GranteeServicePrincipal"] = self.grantee_service_principal
        if self.retiring_principal is not None:
            entry["RetiringPrincipal"] = self.retiring_principal
        if self.retiring_service_principal is not None:
            entry["RetiringServicePrincipal"] = self.retiring_service_principal
        entry["IssuingAccount"] = account_root_arn(self.issuing_account)
        entry["Operations"] = [op for op in GRANT_OPERATIONS if op in self.operations]
        if self.constraints is not None:
            entry["Constraints"] = self.constraints.to_api()
        return entry


@functools.lru_cache(maxsize=4096)  # a few callers make most requests; a caller's hash is computed once
def grantee_candidates(caller: Caller) -> tuple[str, ...]:
    """The grantee values a grant may carry to apply to `caller`."""
    names = [caller.arn, account_root_arn(caller.account)]
    if caller.role_arn is not None:
        names.append(caller.role_arn)
    return tuple(dict.fromkeys(names))


def check_principal_syntax(principal: str, member: str) -> None:
    if not _PRINCIPAL_ARN.fullmatch(principal):
        raise ValidationException(
            f"{member} {principal} is not a valid principal: use the ARN of an account root, an IAM user, an IAM role, "
            "an assumed-role session or a federated user."
        )


def principal_account(principal: str) -> str:
    return principal.split(":")[4]


def check_grant_request(
    operations: list[str],
    constraints: Constraints | None,
    grantee: str | None,
    grantee_service: str | None,
    retiring: str | None,
    retiring_service: str | None,
) -> frozenset[str]:
    """The checks of CreateGrant that read nothing but the request (they may answer before the decision);
    returns the operation set."""
    if (grantee is None) == (grantee_service is None):
        raise ValidationException("Exactly one of GranteePrincipal or GranteeServicePrincipal must be specified.")
    if retiring is not None and retiring_service is not None:
        raise ValidationException("Specify either RetiringPrincipal or RetiringServicePrincipal, not both.")
    if grantee is not None:
        check_principal_syntax(grantee, "GranteePrincipal")
    if retiring is not None:
        check_principal_syntax(retiring, "RetiringPrincipal")
    if grantee_service is not None:
        if constraints is None or constraints.source_arn is None:
            raise ValidationException("A grant for a service principal must have a SourceArn constraint.")
        if retiring is None and retiring_service is None:
            raise ValidationException("A grant for a service principal must have a retiring principal.")
    if not operations:
        raise ValidationException("Operations must name at least one grant operation.")
    wanted = frozenset(operations)
    if wanted == {"CreateGrant"}:
        raise ValidationException("Grants must not contain only the CreateGrant operation.")
    return wanted


def check_grant_for_key(key: Key, operations: frozenset[str], constraints: Constraints | None) -> None:
    """The checks of CreateGrant that depend on the key: only after the decision, they tell what the key is."""
    supported = supported_operations(key)
    for operation in GRANT_OPERATIONS:
        if operation in operations and operation not in supported:
            raise ValidationException(
                f"The operation {operation} is not supported by key {key.arn}, whose key spec is {key.spec_name} "
                f"and key usage {key.usage}."
            )
    if constraints is not None and constraints.constraint_type is not None and not key.spec.is_symmetric:
        raise ValidationException(
            f"Encryption context constraints are not supported on key {key.arn}: key spec {key.spec_name} "
            "takes no encryption context."
        )


def why_grant_does_not_apply(
    grant: Grant,
    operation: str,
    encryption_context: Mapping[str, str] | None,
    *,
    now: float,
    propagation_delay: float,
    with_token: bool = False,
) -> str | None:
    """The first reason `grant` does not allow `operation` with this encryption context, in words a user can act
    on; None if, as far as the grant itself goes, it does (`trent admin explain`: the grant that almost matched)."""
    if grant.deleted_at is not None:
        return "it was retired or revoked"
    if not with_token and grant.creation_date + propagation_delay > now:
        left = grant.creation_date + propagation_delay - now
        return f"it is not propagated yet ({left:.1f} s left): until then it applies only with its grant token"
    if operation not in grant.operations:
        return f"{operation} is not one of its operations ({', '.join(sorted(grant.operations))})"
    constraints = grant.constraints
    if constraints is None or operation in UNCONSTRAINED_OPERATIONS:
        return None
    context = dict(encryption_context or {})
    wanted = dict(constraints.context)
    shown = "{" + ", ".join(f"{k}={v}" for k, v in sorted(wanted.items())) + "}"
    given = "{" + ", ".join(f"{k}={v}" for k, v in sorted(context.items())) + "}"
    if constraints.equals is not None and not constraints.holds_for(context, None):
        extra = sorted(set(context) - set(wanted))
        problem = _first_difference(wanted, context) or f"the request also has {', '.join(extra)}"
        return f"EncryptionContextEquals {shown} is not satisfied by {given}: {problem}"
    if constraints.subset is not None and not constraints.holds_for(context, None):
        return f"EncryptionContextSubset {shown} is not satisfied by {given}: {_first_difference(wanted, context)}"
    return None


def _first_difference(wanted: Mapping[str, str], given: Mapping[str, str]) -> str | None:
    for key, value in sorted(wanted.items()):
        if key not in given:
            return f"{key} is missing"
        if given[key] != value:
            return f"{key} is {given[key]}, not {value}"
    return None
