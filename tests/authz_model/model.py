"""Reference evaluator of Trent's whole KMS authorization decision (the test oracle).

Written only from docs/authorization.md ("AUTH"), docs/grants.md ("GRANTS"), the AWS KMS fact sheet
(``/work/shared/spec/aws-kms-fact-sheet.md``, "FS §n") and AWS's public IAM policy-language documentation
("IAM"). Where AUTH and FS differ, AUTH wins. It is deliberately slow and literal: every policy is parsed
again for every statement it is asked about, every case-colliding combination is enumerated, nothing is
cached. ``decide(world, call)`` is the single entry point.

AMBIGUITIES lists every place where the documents are silent or ambiguous and the reading chosen here.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

AMBIGUITIES = [
    # --- condition operators (AUTH "The policy language", IAM condition-operator reference) ---
    "A request value of the wrong type under a NEGATED operator (NumericNotEquals, DateNotEquals, NotIpAddress, "
    "ArnNotLike, ...): 'never matches' is read as 'the positive comparison is false', so the negated operator "
    "HOLDS (AUTH: 'negated: when none does').",
    "Policy variables are substituted in the values of EVERY operator (AUTH: 'in condition values'), although "
    "IAM says Numeric/Date/IpAddress operators do not support variables.",
    "ArnEquals and ArnLike are the same operator (IAM): '*' and '?' wildcards, case-sensitive, matched per ARN "
    "component; the pattern must have all six ':'-separated components and the request value must be an ARN "
    "(else no match). The sixth component keeps any further ':'.",
    "Date values: all-digit text is epoch seconds; otherwise ISO 8601 'YYYY-MM-DD' or "
    "'YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm]', a missing zone meaning UTC. Anything else never matches.",
    "Numeric values: optional sign, digits, optional decimal fraction (no exponent, no spaces), compared exactly.",
    "Bool compares case-insensitively ('True' == 'true'); a request value other than true/false never matches.",
    "StringEqualsIgnoreCase folds case with str.lower().",
    "ForAnyValue:...IfExists on an absent key holds (IfExists wins over ForAnyValue's 'absent fails').",
    "A policy without 'Version' is a 2008-10-17 policy: no policy variables ('${...}' is literal text).",
    "A policy variable naming a multi-valued fact (kms:EncryptionContextKeys, ...) has no value: its default "
    "is used, or it matches nothing.",
    "aws:CurrentTime and aws:EpochTime truncate `now` to the whole second (floor).",
    "An unknown condition operator is an error (ValueError), not a silently false condition.",
    # --- principals and resources ---
    "Principal and grantee ARNs are compared exactly (case-sensitively).",
    "'NotPrincipal': '*' (or {'AWS': '*'}) exempts nobody: it lists no account and no ARN.",
    "A key-policy statement's Resource/NotResource is matched against the key ARN like any ARN pattern "
    "(a key policy naming another key's ARN does not apply).",
    # --- case-colliding keys (AUTH 'Names that differ only in case') ---
    "Combinations are taken only over the case-colliding keys a statement refers to (its condition keys and the "
    "policy variables in its condition values and Resource); the 256 cap counts only those. Principal, Action and "
    "(when it refers to no colliding key) Resource are checked first, so a capped Deny applies only to requests "
    "those already match.",
    "Duplicated tag keys in a request's Tags list are treated like case-colliding keys (several values).",
    # --- operation facts ---
    "Decrypt/ReEncrypt: the decision is on the ciphertext's key when that key is SYMMETRIC_DEFAULT (the blob "
    "names it), else on the key named by KeyId/SourceKeyId ('RSA: on KeyId'). kms:RequestAlias is added "
    "whenever KeyId names an alias, even if the alias points at another key than the decided one.",
    "kms:RequestAlias is added for any operation whose KeyId names an alias (not only crypto ops).",
    "The alias half of CreateAlias/UpdateAlias/DeleteAlias gets only the common facts (it is not an action on a key).",
    "CreateKey needs kms:TagResource only when Tags is non-empty.",
    "CreateKey's kms:KeyOrigin is the request's Origin (default AWS_KMS); kms:MultiRegion is always false.",
    "Lockout check for CreateKey: the new key's facts come from the request (KeySpec/KeyUsage with their "
    "defaults, Tags as aws:ResourceTag/*, no aliases), its ARN from params['_NewKeyArn'].",
    "ListRetirableGrants naming a retiring principal of another account is refused ('deny').",
    # --- grants ---
    "A retired/revoked grant whose token IS in the request counts for no one, even while it would still count "
    "without the token (AUTH rule 5: 'counts for no one with its token'; GRANTS: 'its token stops at once').",
    "A grant with created_at > now does not exist yet (counts for no one, token or not); a deleted_at > now is "
    "a deletion that has not happened yet. Without a token a grant counts while "
    "created_at + delay <= now < deleted_at + delay; with its token while created_at <= now < deleted_at.",
    "Encryption-context constraints apply to every grant operation except DescribeKey, RetireGrant and "
    "CreateGrant (AUTH), so they are checked against an empty context for Sign/Verify/GenerateMac/VerifyMac/"
    "GetPublicKey/DeriveSharedSecret (FS §5 says they do not apply to operations without a context).",
    "A grant holding both EncryptionContextEquals and EncryptionContextSubset needs both to hold.",
    "Constraint pairs are multisets per lower-cased key on BOTH sides (a constraint {stage: prod, STAGE: prod} "
    "needs two matching pairs in the request).",
    "Delegation: a parent with any EC constraint (even Subset {}) requires the child to carry an EC constraint; "
    "'Equals E exactly' compares pairs by the constraint rule (keys case-insensitive, values case-sensitive, "
    "multisets). A SourceArn parent never counts, so its 'carry over' rule never arises.",
    "RetireGrant: the grantee path is subject to rule 5's timing (token / propagation / deletion); the "
    "retiring-principal and issuing-account paths are not.",
    "RetireGrant: a role ARN as retiring principal matches every session of that role ('directly').",
    "RetireGrant: a key-policy Deny is ignored (AUTH: 'The key policy plays no part'); only identity Denies refuse.",
    "Grant.issuing_account may be an account ID or an account-root ARN.",
]


# ----------------------------------------------------------------------------------------------------------
# Interface (as specified by the brief)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    arn: str
    account: str
    kind: str  # "root" | "user" | "session"
    user_id: str
    role_arn: str | None = None
    user_name: str | None = None
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class Key:
    arn: str
    key_id: str
    account: str
    region: str
    spec: str
    usage: str
    policy: str
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    #: A multi-Region key, and whether it is the primary (its replicas share its key ID, in other Regions).
    multi_region: bool = False
    primary: bool = True


@dataclass(frozen=True)
class Grant:
    grant_id: str
    key_arn: str
    grantee: str
    operations: frozenset[str]
    issuing_account: str
    created_at: float
    retiring: str | None = None
    constraints: Mapping[str, Any] | None = None
    deleted_at: float | None = None


@dataclass(frozen=True)
class World:
    keys: Mapping[str, Key]
    identity_policies: Mapping[str, Sequence[str]]
    grants: Sequence[Grant]
    propagation_delay: float = 0.0


@dataclass(frozen=True)
class Call:
    operation: str
    params: Mapping[str, Any]
    caller: Caller
    now: float
    region: str
    ciphertext_key: str | None = None
    token_grants: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------------------
# Tables from AUTH
# ----------------------------------------------------------------------------------------------------------

# AUTH "Grant operations": actions a grant can allow, by their grant operation.
GRANT_OPERATIONS = {
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "GetPublicKey",
    "DescribeKey",
    "CreateGrant",
    "RetireGrant",
    "ReEncryptFrom",
    "ReEncryptTo",
}

# AUTH table, column "own account" (rule 2).
OWN_ACCOUNT_ACTIONS = {
    "kms:" + a
    for a in (
        "PutKeyPolicy",
        "GetKeyPolicy",
        "ListKeyPolicies",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "EnableKey",
        "DisableKey",
        "UpdateKeyDescription",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
        "ListKeyRotations",
        "EnableKeyRotation",
        "TagResource",
        "UntagResource",
        "ListResourceTags",
        "CreateAlias",
        "UpdateAlias",
        "DeleteAlias",
        "GetParametersForImport",
        "ImportKeyMaterial",
        "DeleteImportedKeyMaterial",
        # Multi-Region keys: none of them works across accounts (import and multi-Region fact sheet, §20).
        "ReplicateKey",
        "UpdatePrimaryRegion",
    )
}

# AUTH table: ordinary actions on one key named by KeyId.
KEY_OPERATIONS = {
    "Encrypt",
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
    "DescribeKey",
    "GetPublicKey",
    "CreateGrant",
    "ListGrants",
    "RevokeGrant",
    "PutKeyPolicy",
    "GetKeyPolicy",
    "ListKeyPolicies",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "EnableKey",
    "DisableKey",
    "UpdateKeyDescription",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "ListKeyRotations",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
}

COMBINATION_CAP = 256  # AUTH "Names that differ only in case"


# ----------------------------------------------------------------------------------------------------------
# Identifiers (brief "Rules for identifiers"; FS §1 key identifier forms)
# ----------------------------------------------------------------------------------------------------------


def _key_by_arn(world: World, arn: str) -> Key:
    for key in world.keys.values():
        if key.arn == arn:
            return key
    raise ValueError(f"no key {arn}")


def _key_by_alias(world: World, account: str, region: str, alias_name: str) -> Key:
    found = [k for k in world.keys.values() if k.account == account and k.region == region and alias_name in k.aliases]
    if len(found) != 1:
        raise ValueError(f"alias {alias_name} in {account}/{region} resolves to {len(found)} keys")
    return found[0]


def resolve_key(world: World, call: Call, ident: str) -> tuple[Key, str | None]:
    """(key, alias name if `ident` named an alias)."""
    if ident.startswith("arn:"):
        parts = ident.split(":", 5)
        if len(parts) != 6:
            raise ValueError(f"bad ARN {ident}")
        region, account, resource = parts[3], parts[4], parts[5]
        if resource.startswith("alias/"):
            return _key_by_alias(world, account, region, resource), resource
        if resource.startswith("key/"):
            return _key_by_arn(world, ident), None
        raise ValueError(f"bad KMS ARN {ident}")
    if ident.startswith("alias/"):
        return _key_by_alias(world, call.caller.account, call.region, ident), ident
    return _key_by_arn(world, f"arn:aws:kms:{call.region}:{call.caller.account}:key/{ident}"), None


def _account_of(principal: str) -> str | None:
    """Account of an account ID or of any IAM/STS ARN."""
    if re.fullmatch(r"\d{12}", principal):
        return principal
    parts = principal.split(":")
    return parts[4] if principal.startswith("arn:") and len(parts) >= 6 else None


def _account_principal(value: str) -> str | None:
    """AUTH 'Principal': an account principal is an account ID or arn:aws:iam::A:root."""
    if re.fullmatch(r"\d{12}", value):
        return value
    m = re.fullmatch(r"arn:aws:iam::(\d{12}):root", value)
    return m.group(1) if m else None


# ----------------------------------------------------------------------------------------------------------
# Facts (AUTH "The facts of a request")
# ----------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Facts:
    """Condition keys by lower-cased name (AUTH: names are case-insensitive).

    single[name] lists the candidate values of a single-valued key: more than one only when request keys
    collide in case (AUTH 'Names that differ only in case'). multi[name] is a list-valued key (never empty:
    an empty list counts as absent)."""

    def __init__(self) -> None:
        self.single: dict[str, list[str]] = {}
        self.multi: dict[str, list[str]] = {}

    def add(self, name: str, value: Any) -> None:
        self.single.setdefault(name.lower(), []).append(_text(value))

    def add_list(self, name: str, values: Sequence[Any]) -> None:
        if values:
            self.multi[name.lower()] = [_text(v) for v in values]

    def copy(self) -> Facts:
        other = Facts()
        other.single = {k: list(v) for k, v in self.single.items()}
        other.multi = {k: list(v) for k, v in self.multi.items()}
        return other


def _common_facts(caller: Caller, now: float) -> Facts:
    """AUTH 'Who is asking' and 'Every request has'."""
    f = Facts()
    if caller.kind == "root":
        f.add("aws:PrincipalArn", caller.arn)
        f.add("aws:PrincipalType", "Account")
    elif caller.kind == "user":
        f.add("aws:PrincipalArn", caller.arn)
        f.add("aws:PrincipalType", "User")
        if caller.user_name is not None:
            f.add("aws:username", caller.user_name)
    elif caller.kind == "session":
        f.add("aws:PrincipalArn", caller.role_arn)
        f.add("aws:PrincipalType", "AssumedRole")
    else:
        raise ValueError(f"unknown caller kind {caller.kind}")
    f.add("aws:userid", caller.user_id)
    f.add("aws:PrincipalAccount", caller.account)
    f.add("kms:CallerAccount", caller.account)
    seconds = int(now // 1)
    f.add("aws:CurrentTime", datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    f.add("aws:EpochTime", seconds)
    f.add("aws:SecureTransport", "false")
    f.add("aws:SourceIp", caller.source_ip)
    return f


def _add_key_facts(f: Facts, key: Key) -> None:
    """AUTH: 'Every action on a key adds the key's facts'."""
    f.add("kms:KeySpec", key.spec)
    f.add("kms:KeyUsage", key.usage)
    f.add("kms:KeyOrigin", "AWS_KMS")
    f.add("kms:MultiRegion", "true" if key.multi_region else "false")
    if key.multi_region:  # AUTH: "kms:MultiRegionKeyType (PRIMARY or REPLICA, multi-Region keys only)"
        f.add("kms:MultiRegionKeyType", "PRIMARY" if key.primary else "REPLICA")
    for tag_key, tag_value in key.tags.items():
        f.add("aws:ResourceTag/" + tag_key, tag_value)
    f.add_list("kms:ResourceAliases", list(key.aliases))


def _add_context_facts(f: Facts, context: Mapping[str, Any] | None) -> None:
    """kms:EncryptionContext:<k> per pair (colliding keys give one name several values) and the key list."""
    context = context or {}
    for k, v in context.items():
        f.add("kms:EncryptionContext:" + k, v)
    f.add_list("kms:EncryptionContextKeys", list(context.keys()))


def _add_request_tag_facts(f: Facts, tags: Sequence[Mapping[str, Any]] | None) -> None:
    tags = tags or []
    for tag in tags:
        f.add("aws:RequestTag/" + tag["TagKey"], tag["TagValue"])
    f.add_list("aws:TagKeys", [tag["TagKey"] for tag in tags])


def _param(params: Mapping[str, Any], name: str, default: Any = None) -> Any:
    value = params.get(name)
    return default if value is None else value


def _add_operation_facts(f: Facts, op: str, p: Mapping[str, Any]) -> None:
    """AUTH table 'Each operation adds the facts of its parameters, with the default ...'."""
    if op in ("Encrypt", "Decrypt"):
        f.add("kms:EncryptionAlgorithm", _param(p, "EncryptionAlgorithm", "SYMMETRIC_DEFAULT"))
        _add_context_facts(f, p.get("EncryptionContext"))
    elif op in (
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    ):
        f.add("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
        _add_context_facts(f, p.get("EncryptionContext"))
        if op.startswith("GenerateDataKeyPair") and p.get("KeyPairSpec") is not None:
            f.add("kms:DataKeyPairSpec", p["KeyPairSpec"])
    elif op in ("Sign", "Verify"):
        if p.get("SigningAlgorithm") is not None:
            f.add("kms:SigningAlgorithm", p["SigningAlgorithm"])
        f.add("kms:MessageType", _param(p, "MessageType", "RAW"))
    elif op in ("GenerateMac", "VerifyMac"):
        if p.get("MacAlgorithm") is not None:
            f.add("kms:MacAlgorithm", p["MacAlgorithm"])
    elif op == "DeriveSharedSecret":
        if p.get("KeyAgreementAlgorithm") is not None:
            f.add("kms:KeyAgreementAlgorithm", p["KeyAgreementAlgorithm"])
    elif op == "CreateGrant":
        f.add_list("kms:GrantOperations", list(p.get("Operations") or []))
        if p.get("GranteePrincipal") is not None:
            f.add("kms:GranteePrincipal", p["GranteePrincipal"])
        if p.get("RetiringPrincipal") is not None:
            f.add("kms:RetiringPrincipal", p["RetiringPrincipal"])
        constraints = p.get("Constraints") or {}
        pairs: dict[str, Any] = {}
        for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
            if constraints.get(kind) is not None:
                f.add("kms:GrantConstraintType", kind)
                pairs.update(constraints[kind])
        _add_context_facts(f, pairs)
        if constraints.get("SourceArn") is not None:
            f.add("kms:GrantConstraintSourceArn", constraints["SourceArn"])
        f.add("kms:GrantIsForAWSResource", "false")
    elif op in ("ListGrants", "RevokeGrant"):
        f.add("kms:GrantIsForAWSResource", "false")
    elif op == "PutKeyPolicy":
        f.add("kms:PolicyName", _param(p, "PolicyName", "default"))
        f.add("kms:BypassPolicyLockoutSafetyCheck", _param(p, "BypassPolicyLockoutSafetyCheck", False))
    elif op == "GetKeyPolicy":
        f.add("kms:PolicyName", _param(p, "PolicyName", "default"))
    elif op == "ScheduleKeyDeletion":
        f.add("kms:ScheduleKeyDeletionPendingWindowInDays", _param(p, "PendingWindowInDays", 30))
    elif op == "EnableKeyRotation":
        f.add("kms:RotationPeriodInDays", _param(p, "RotationPeriodInDays", 365))
    elif op == "TagResource":
        _add_request_tag_facts(f, p.get("Tags"))
    elif op == "UntagResource":
        f.add_list("aws:TagKeys", list(p.get("TagKeys") or []))


# ----------------------------------------------------------------------------------------------------------
# Policy language (AUTH "The policy language"; IAM element and operator reference)
# ----------------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _parse_policy(document: str) -> tuple[str, list[dict[str, Any]]]:
    """(Version, statements). A missing Version is the old 2008-10-17 language."""
    doc = json.loads(document)
    return doc.get("Version", "2008-10-17"), _as_list(doc.get("Statement", []))


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^,\s]+)\s*(?:,\s*'([^']*)'\s*)?")

Combo = Mapping[str, str]  # chosen value for each case-colliding key a statement refers to
PatternChars = list[tuple[str, bool]]  # (character, is a policy wildcard)


def _variable_names(text: str) -> list[str]:
    names = []
    for body in _VARIABLE.findall(text):
        m = _VARIABLE_BODY.fullmatch(body)
        if m and body.strip() not in ("*", "?", "$"):
            names.append(m.group(1).lower())
    return names


def _single_value(facts: Facts, combo: Combo, name: str) -> str | None:
    if name in facts.single:
        return combo.get(name, facts.single[name][0])
    return None


def _expand(text: Any, version: str, facts: Facts, combo: Combo) -> PatternChars | None:
    """Substitute policy variables (AUTH: 2012-10-17 only). Characters of the policy text keep their
    wildcard meaning; variable values are literal. None: a variable without value and default (matches nothing)."""
    text = _text(text)
    out: PatternChars = []
    position = 0
    matches = list(_VARIABLE.finditer(text)) if version == "2012-10-17" else []
    for m in matches:
        out += [(c, c in "*?") for c in text[position : m.start()]]
        position = m.end()
        body = m.group(1)
        if body.strip() in ("*", "?", "$"):  # ${*}, ${?}, ${$}: the literal characters
            out.append((body.strip(), False))
            continue
        parsed = _VARIABLE_BODY.fullmatch(body)
        if parsed is None:  # not a variable: literal text
            out += [(c, c in "*?") for c in m.group(0)]
            continue
        value = _single_value(facts, combo, parsed.group(1).lower())
        if value is None:
            value = parsed.group(2)  # the default, or None
        if value is None:
            return None
        out += [(c, False) for c in value]
    out += [(c, c in "*?") for c in text[position:]]
    return out


def _plain(chars: PatternChars) -> str:
    return "".join(c for c, _ in chars)


def _glob(chars: PatternChars, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if (wild and c == "*") else "." if (wild and c == "?") else re.escape(c) for c, wild in chars)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def _arn_like(chars: PatternChars, value: str) -> bool:
    """IAM ArnLike/ArnEquals: each of the six ':'-separated components matched separately."""
    value_parts = value.split(":", 5)
    if len(value_parts) != 6 or value_parts[0] != "arn":
        return False
    pattern_parts: list[PatternChars] = [[]]
    for c, wild in chars:
        if c == ":" and len(pattern_parts) < 6:
            pattern_parts.append([])
        else:
            pattern_parts[-1].append((c, wild))
    if len(pattern_parts) != 6:
        return False
    return all(_glob(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


def _number(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _date(text: str) -> Decimal | None:
    """Epoch seconds of an epoch number or an ISO 8601 date/time (see AMBIGUITIES)."""
    if re.fullmatch(r"\d+", text):
        return Decimal(text)
    m = _DATE.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=UTC
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return Decimal(int(moment.timestamp())) + (Decimal(fraction) if fraction else 0)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "equals": lambda a, b: a == b,
    "lessthan": lambda a, b: a < b,
    "lessthanequals": lambda a, b: a <= b,
    "greaterthan": lambda a, b: a > b,
    "greaterthanequals": lambda a, b: a >= b,
}

# operator (lower case, without ForAllValues:/ForAnyValue:/IfExists) -> (positive operator, negated?)
_OPERATORS = {
    "stringequals": ("stringequals", False),
    "stringnotequals": ("stringequals", True),
    "stringequalsignorecase": ("stringequalsignorecase", False),
    "stringnotequalsignorecase": ("stringequalsignorecase", True),
    "stringlike": ("stringlike", False),
    "stringnotlike": ("stringlike", True),
    "numericequals": ("numericequals", False),
    "numericnotequals": ("numericequals", True),
    "numericlessthan": ("numericlessthan", False),
    "numericlessthanequals": ("numericlessthanequals", False),
    "numericgreaterthan": ("numericgreaterthan", False),
    "numericgreaterthanequals": ("numericgreaterthanequals", False),
    "dateequals": ("dateequals", False),
    "datenotequals": ("dateequals", True),
    "datelessthan": ("datelessthan", False),
    "datelessthanequals": ("datelessthanequals", False),
    "dategreaterthan": ("dategreaterthan", False),
    "dategreaterthanequals": ("dategreaterthanequals", False),
    "bool": ("bool", False),
    "ipaddress": ("ipaddress", False),
    "notipaddress": ("ipaddress", True),
    "arnequals": ("arnlike", False),
    "arnlike": ("arnlike", False),
    "arnnotequals": ("arnlike", True),
    "arnnotlike": ("arnlike", True),
}


def _value_matches(operator: str, request: str, pattern: PatternChars) -> bool:
    """The positive comparison of one request value with one policy value. Wrong types never match."""
    policy = _plain(pattern)
    if operator == "stringequals":
        return request == policy
    if operator == "stringequalsignorecase":
        return request.lower() == policy.lower()
    if operator == "stringlike":
        return _glob(pattern, request)
    if operator.startswith("numeric") or operator.startswith("date"):
        parse = _number if operator.startswith("numeric") else _date
        a, b = parse(request), parse(policy)
        return a is not None and b is not None and _COMPARE[operator.removeprefix("numeric").removeprefix("date")](a, b)
    if operator == "bool":
        return request.lower() in ("true", "false") and request.lower() == policy.lower()
    if operator == "ipaddress":
        try:
            address = ipaddress.ip_address(request)
            network = ipaddress.ip_network(policy, strict=False)
        except ValueError:
            return False
        return address.version == network.version and address in network
    if operator == "arnlike":
        return _arn_like(pattern, request)
    raise ValueError(operator)


def _lookup(facts: Facts, combo: Combo, name: str) -> list[str] | None:
    if name in facts.multi:
        return facts.multi[name]
    if name in facts.single:
        return [combo.get(name, facts.single[name][0])]
    return None


def _condition_holds(
    op_name: str, key: str, policy_values: list[Any], version: str, facts: Facts, combo: Combo
) -> bool:
    """One condition key under one operator (AUTH bullet list under 'Condition'; IAM operator reference)."""
    name = op_name.lower()
    quantifier = None
    for prefix in ("forallvalues:", "foranyvalue:"):
        if name.startswith(prefix):
            quantifier, name = prefix[:-1], name[len(prefix) :]
    if_exists = name.endswith("ifexists") and name != "ifexists"
    if if_exists:
        name = name[: -len("ifexists")]
    values = _lookup(facts, combo, key.lower())
    if name == "null":  # Null: true <=> absent
        return any((_text(v).lower() == "true") == (values is None) for v in policy_values)
    if name not in _OPERATORS:
        raise ValueError(f"unknown condition operator {op_name}")
    operator, negated = _OPERATORS[name]
    if values is None:  # AUTH: 'A key absent from the request'
        if if_exists or quantifier == "forallvalues":
            return True
        if quantifier == "foranyvalue":
            return False
        return negated
    patterns = [p for p in (_expand(v, version, facts, combo) for v in policy_values) if p is not None]

    def value_ok(value: str) -> bool:  # values of one key are ORed
        hit = any(_value_matches(operator, value, p) for p in patterns)
        return not hit if negated else hit

    if quantifier == "forallvalues":
        return all(value_ok(v) for v in values)
    if quantifier == "foranyvalue" or not negated:
        return any(value_ok(v) for v in values)
    return all(value_ok(v) for v in values)  # plain negated: no value matches


def _conditions_hold(stmt: Mapping[str, Any], version: str, facts: Facts, combo: Combo) -> bool:
    """Every operator block and every key in it must hold (AND)."""
    for op_name, block in (stmt.get("Condition") or {}).items():
        for key, policy_values in block.items():
            if not _condition_holds(op_name, key, _as_list(policy_values), version, facts, combo):
                return False
    return True


def _action_matches(stmt: Mapping[str, Any], action: str) -> bool:
    """Action/NotAction: '*' and '?' wildcards, case-insensitive."""

    def hit(patterns: Any) -> bool:
        return any(_glob([(c, c in "*?") for c in p], action, ignore_case=True) for p in _as_list(patterns))

    if "Action" in stmt:
        return hit(stmt["Action"])
    if "NotAction" in stmt:
        return not hit(stmt["NotAction"])
    return False  # AUTH: without Action it never applies


def _resource_matches(stmt: Mapping[str, Any], version: str, resource: str, facts: Facts, combo: Combo) -> bool:
    """Resource/NotResource: '*' and '?' match anything including ':' and '/'; variables substituted."""

    def hit(patterns: Any) -> bool:
        for p in _as_list(patterns):
            chars = _expand(p, version, facts, combo)
            if chars is not None and _glob(chars, resource):
                return True
        return False

    if "Resource" in stmt:
        return hit(stmt["Resource"])
    return not hit(stmt["NotResource"])


def _referenced_names(stmt: Mapping[str, Any], version: str) -> tuple[set[str], set[str]]:
    """(names referred to by Resource/NotResource variables, by Condition keys and condition-value variables)."""
    resource_names: set[str] = set()
    condition_names: set[str] = set()
    if version == "2012-10-17":
        for p in _as_list(stmt.get("Resource", stmt.get("NotResource", []))):
            resource_names.update(_variable_names(_text(p)))
    for block in (stmt.get("Condition") or {}).values():
        for key, values in block.items():
            condition_names.add(key.lower())
            if version == "2012-10-17":
                for v in _as_list(values):
                    condition_names.update(_variable_names(_text(v)))
    return resource_names, condition_names


def statement_applies(stmt: Mapping[str, Any], version: str, action: str, resource: str, facts: Facts) -> bool:
    """Does a statement (principal already checked) apply to this action, resource and facts?

    AUTH 'Names that differ only in case': evaluated once per combination of the values of case-colliding
    keys; an Allow applies only if it applies in every combination, a Deny if in any; over 256 combinations
    an Allow does not apply and a Deny does."""
    if not _action_matches(stmt, action):
        return False
    if "Resource" not in stmt and "NotResource" not in stmt:
        return False
    deny = stmt.get("Effect") == "Deny"
    resource_names, condition_names = _referenced_names(stmt, version)
    colliding = sorted(n for n in resource_names | condition_names if len(facts.single.get(n, [])) > 1)
    if not any(n in resource_names for n in colliding) and not _resource_matches(stmt, version, resource, facts, {}):
        return False
    count = 1
    for name in colliding:
        count *= len(facts.single[name])
    if count > COMBINATION_CAP:
        return deny
    results = []
    for choice in itertools.product(*(facts.single[n] for n in colliding)):
        combo = dict(zip(colliding, choice, strict=True))
        results.append(
            _resource_matches(stmt, version, resource, facts, combo) and _conditions_hold(stmt, version, facts, combo)
        )
    return any(results) if deny else all(results)


# ----------------------------------------------------------------------------------------------------------
# Principals (AUTH 'Principal' bullet; rules 1, 3, 4)
# ----------------------------------------------------------------------------------------------------------


def _principal_values(element: Any) -> list[str]:
    if element == "*":
        return ["*"]
    if isinstance(element, Mapping):
        return [_text(v) for v in _as_list(element.get("AWS", []))]
    return []


def _deny_names_caller(stmt: Mapping[str, Any], caller: Caller) -> bool:
    """A Deny's principal: '*', the caller's account (everyone in it), the caller's ARN, or its role.
    NotPrincipal exempts a caller only when its account is listed and (unless root) its ARN or role too."""
    if "Principal" in stmt:
        for v in _principal_values(stmt["Principal"]):
            if v == "*" or _account_principal(v) == caller.account or v == caller.arn or v == caller.role_arn:
                return True
        return False
    if "NotPrincipal" in stmt:
        listed = _principal_values(stmt["NotPrincipal"])
        account_listed = any(_account_principal(v) == caller.account for v in listed)
        if caller.kind == "root":
            exempt = account_listed
        else:
            exempt = account_listed and (
                caller.arn in listed or (caller.role_arn is not None and caller.role_arn in listed)
            )
        return not exempt
    return False


def _allow_names_caller(stmt: Mapping[str, Any], caller: Caller) -> bool:
    """Rule 3: the Principal names the caller, its role, '*', or its account when the caller is that root."""
    for v in _principal_values(stmt.get("Principal")):
        if v == "*" or v == caller.arn or (caller.role_arn is not None and v == caller.role_arn):
            return True
        if caller.kind == "root" and _account_principal(v) == caller.account:
            return True
    return False


def _allow_names_account(stmt: Mapping[str, Any], account: str) -> bool:
    """Rule 4: the Principal names the account principal (enables IAM for that account)."""
    return any(_account_principal(v) == account for v in _principal_values(stmt.get("Principal")))


# ----------------------------------------------------------------------------------------------------------
# Identity policies (AUTH 'Who is asking')
# ----------------------------------------------------------------------------------------------------------


def _identity_documents(world: World, caller: Caller) -> list[str]:
    if caller.kind == "root":
        return []
    owner = caller.arn if caller.kind == "user" else caller.role_arn
    return list(world.identity_policies.get(owner, [])) if owner is not None else []


def _identity_has(world: World, caller: Caller, effect: str, action: str, resource: str, facts: Facts) -> bool:
    for document in _identity_documents(world, caller):
        version, statements = _parse_policy(document)
        for stmt in statements:
            if stmt.get("Effect") == effect and statement_applies(stmt, version, action, resource, facts):
                return True
    return False


def _identity_allows(world: World, caller: Caller, action: str, resource: str, facts: Facts) -> bool:
    """A root is implicitly allowed everything its account's identity policies could allow."""
    return caller.kind == "root" or _identity_has(world, caller, "Allow", action, resource, facts)


def _identity_only(world: World, caller: Caller, action: str, resource: str, facts: Facts) -> bool:
    """AUTH 'Actions without a key policy': identity denies refuse; a root is allowed; else an identity Allow."""
    if _identity_has(world, caller, "Deny", action, resource, facts):
        return False
    return _identity_allows(world, caller, action, resource, facts)


# ----------------------------------------------------------------------------------------------------------
# The decision for an action on a key (AUTH rules 1-6)
# ----------------------------------------------------------------------------------------------------------


def _policy_decision(world: World, caller: Caller, action: str, key: Key, facts: Facts) -> str:
    """Rules 1-4 on key.policy: 'deny', 'allow' or 'none' (nothing settled it)."""
    version, statements = _parse_policy(key.policy)
    # Rule 1: explicit deny in the key policy or any identity policy of the caller.
    for stmt in statements:
        if (
            stmt.get("Effect") == "Deny"
            and _deny_names_caller(stmt, caller)
            and statement_applies(stmt, version, action, key.arn, facts)
        ):
            return "deny"
    if _identity_has(world, caller, "Deny", action, key.arn, facts):
        return "deny"
    # Rule 2: key management stays in the key's account.
    if action in OWN_ACCOUNT_ACTIONS and caller.account != key.account:
        return "deny"
    # Rule 3: the key policy allows the caller (another account also needs its own identity Allow).
    for stmt in statements:
        if (
            stmt.get("Effect") == "Allow"
            and _allow_names_caller(stmt, caller)
            and statement_applies(stmt, version, action, key.arn, facts)
            and (caller.account == key.account or _identity_allows(world, caller, action, key.arn, facts))
        ):
            return "allow"
    # Rule 4: the key policy enables IAM for the caller's account and an identity policy allows.
    for stmt in statements:
        if (
            stmt.get("Effect") == "Allow"
            and _allow_names_account(stmt, caller.account)
            and statement_applies(stmt, version, action, key.arn, facts)
            and _identity_allows(world, caller, action, key.arn, facts)
        ):
            return "allow"
    return "none"


def _grant_counts(grant: Grant, call: Call, delay: float) -> bool:
    """AUTH rule 5 / GRANTS 'Grant tokens and eventual consistency' (timing: see AMBIGUITIES)."""
    now = call.now
    if grant.created_at > now:
        return False
    if grant.grant_id in call.token_grants:  # token: at once; a retired grant's token: never
        return grant.deleted_at is None or now < grant.deleted_at
    if now < grant.created_at + delay:
        return False
    return grant.deleted_at is None or now < grant.deleted_at + delay


def _grantee_matches(world: World, caller: Caller, grant: Grant, action: str, key: Key, facts: Facts) -> bool:
    """AUTH rule 5 'Grantee matching' (FS §16.8)."""
    if grant.grantee == caller.arn:
        return True
    if caller.kind == "session" and grant.grantee == caller.role_arn:
        return True
    if grant.grantee == f"arn:aws:iam::{caller.account}:root":
        return caller.kind == "root" or _identity_has(world, caller, "Allow", action, key.arn, facts)
    return False


def _context_groups(context: Mapping[str, Any]) -> dict[str, Counter[str]]:
    """Pairs by lower-cased key, values as a multiset (AUTH: 'a context with stage and STAGE has two pairs')."""
    groups: dict[str, Counter[str]] = {}
    for k, v in context.items():
        groups.setdefault(k.lower(), Counter())[_text(v)] += 1
    return groups


def _context_contains(context: Mapping[str, Any], pairs: Mapping[str, Any]) -> bool:
    have = _context_groups(context)
    return all(need <= have.get(k, Counter()) for k, need in _context_groups(pairs).items())


def _context_equals(context: Mapping[str, Any], pairs: Mapping[str, Any]) -> bool:
    return _context_groups(context) == _context_groups(pairs)


def _constraints_hold(grant: Grant, grant_op: str, context: Mapping[str, Any]) -> bool:
    """AUTH 'Grant operations' / GRANTS 'Constraints'."""
    constraints = grant.constraints or {}
    if constraints.get("SourceArn") is not None:  # never met by Trent's callers
        return False
    if grant_op in ("DescribeKey", "RetireGrant", "CreateGrant"):
        return True
    equals = constraints.get("EncryptionContextEquals")
    subset = constraints.get("EncryptionContextSubset")
    if equals is not None and not _context_equals(context, equals):
        return False
    return subset is None or _context_contains(context, subset)


def _delegation_allowed(parent: Grant, child: Mapping[str, Any]) -> bool:
    """GRANTS 'Delegation', FS §7 and §16.11: a narrower child only."""
    if not set(child.get("Operations") or []) <= set(parent.operations):
        return False
    parent_c = parent.constraints or {}
    child_c = child.get("Constraints") or {}
    child_equals = child_c.get("EncryptionContextEquals")
    child_subset = child_c.get("EncryptionContextSubset")
    parent_equals = parent_c.get("EncryptionContextEquals")
    if parent_equals is not None and (child_equals is None or not _context_equals(child_equals, parent_equals)):
        return False
    if parent_c.get("EncryptionContextSubset") is not None:
        needed = parent_c["EncryptionContextSubset"]
        if not (
            (child_subset is not None and _context_contains(child_subset, needed))
            or (child_equals is not None and _context_contains(child_equals, needed))
        ):
            return False
    return True


def _grant_allows(
    world: World,
    call: Call,
    key: Key,
    action: str,
    grant_op: str,
    facts: Facts,
    context: Mapping[str, Any],
    child: Mapping[str, Any] | None,
) -> bool:
    """Rule 5: an active grant on the key for this caller, operation and constraints."""
    for grant in world.grants:
        if grant.key_arn != key.arn or grant_op not in grant.operations:
            continue
        if not _grant_counts(grant, call, world.propagation_delay):
            continue
        if not _grantee_matches(world, call.caller, grant, action, key, facts):
            continue
        if not _constraints_hold(grant, grant_op, context):
            continue
        if child is not None and not _delegation_allowed(grant, child):
            continue
        return True
    return False


def _key_decision(
    world: World,
    call: Call,
    action: str,
    key: Key,
    facts: Facts,
    grant_op: str | None = None,
    context: Mapping[str, Any] | None = None,
    child: Mapping[str, Any] | None = None,
) -> bool:
    """Rules 1-6. Policies are tried before grants (so a policy-allowed CreateGrant has no delegation limit)."""
    verdict = _policy_decision(world, call.caller, action, key, facts)
    if verdict != "none":
        return verdict == "allow"
    if grant_op is not None and grant_op in GRANT_OPERATIONS:
        return _grant_allows(world, call, key, action, grant_op, facts, context or {}, child)
    return False


def _could_update_policy(world: World, caller: Caller, key: Key, new_policy: str, now: float) -> bool:
    """AUTH 'The lockout check': rules 1-4 with the new policy, for a PutKeyPolicy now by the same caller."""
    facts = _common_facts(caller, now)
    _add_key_facts(facts, key)
    facts.add("kms:PolicyName", "default")
    facts.add("kms:BypassPolicyLockoutSafetyCheck", "false")
    return _policy_decision(world, caller, "kms:PutKeyPolicy", replace(key, policy=new_policy), facts) == "allow"


def _bypass(params: Mapping[str, Any]) -> bool:
    return _text(_param(params, "BypassPolicyLockoutSafetyCheck", False)).lower() == "true"


# ----------------------------------------------------------------------------------------------------------
# Operations
# ----------------------------------------------------------------------------------------------------------


def _verdict(allowed: bool) -> str:
    return "allow" if allowed else "deny"


def _decided_ciphertext_key(world: World, call: Call, key_id: str | None) -> tuple[Key, str | None]:
    """AUTH table, Decrypt: 'on the ciphertext's key (RSA: on KeyId)' (see AMBIGUITIES)."""
    named, alias = resolve_key(world, call, key_id) if key_id else (None, None)
    from_blob = _key_by_arn(world, call.ciphertext_key) if call.ciphertext_key else None
    if from_blob is not None and (from_blob.spec == "SYMMETRIC_DEFAULT" or named is None):
        return from_blob, alias
    if named is None:
        raise ValueError("Decrypt/ReEncrypt without a key")
    return named, alias


def _key_facts(call: Call, key: Key, alias: str | None) -> Facts:
    facts = _common_facts(call.caller, call.now)
    _add_key_facts(facts, key)
    if alias is not None:
        facts.add("kms:RequestAlias", alias)
    return facts


def _decide_key_operation(world: World, call: Call) -> str:
    op, p = call.operation, call.params
    if op == "Decrypt":
        key, alias = _decided_ciphertext_key(world, call, p.get("KeyId"))
    else:
        key, alias = resolve_key(world, call, p["KeyId"])
    facts = _key_facts(call, key, alias)
    _add_operation_facts(facts, op, p)
    allowed = _key_decision(
        world,
        call,
        "kms:" + op,
        key,
        facts,
        grant_op=op,
        context=p.get("EncryptionContext") or {},
        child=p if op == "CreateGrant" else None,
    )
    if not allowed:
        return "deny"
    if (
        op == "PutKeyPolicy"
        and not _bypass(p)
        and not _could_update_policy(world, call.caller, key, p["Policy"], call.now)
    ):
        return "lockout"
    return "allow"


def _decide_reencrypt(world: World, call: Call) -> str:
    """AUTH table, ReEncrypt: kms:ReEncryptFrom on the source key, then kms:ReEncryptTo on the destination."""
    p = call.params
    source, source_alias = _decided_ciphertext_key(world, call, p.get("SourceKeyId"))
    destination, destination_alias = resolve_key(world, call, p["DestinationKeyId"])
    same_key = source.arn == destination.arn
    halves = [
        ("ReEncryptFrom", source, source_alias, "SourceEncryptionAlgorithm", p.get("SourceEncryptionContext")),
        (
            "ReEncryptTo",
            destination,
            destination_alias,
            "DestinationEncryptionAlgorithm",
            p.get("DestinationEncryptionContext"),
        ),
    ]
    for grant_op, key, alias, algorithm_param, context in halves:
        facts = _key_facts(call, key, alias)
        facts.add("kms:EncryptionAlgorithm", _param(p, algorithm_param, "SYMMETRIC_DEFAULT"))
        _add_context_facts(facts, context)
        facts.add("kms:ReEncryptOnSameKey", same_key)
        if not _key_decision(world, call, "kms:" + grant_op, key, facts, grant_op=grant_op, context=context or {}):
            return "deny"
    return "allow"


def _decide_create_key(world: World, call: Call) -> str:
    """AUTH table, CreateKey: kms:CreateKey on '*' (and kms:TagResource with Tags), then the lockout check."""
    p, caller = call.params, call.caller
    spec = _param(p, "KeySpec", _param(p, "CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"))
    usage = _param(p, "KeyUsage", "ENCRYPT_DECRYPT")
    facts = _common_facts(caller, call.now)
    facts.add("kms:KeySpec", spec)
    facts.add("kms:KeyUsage", usage)
    facts.add("kms:KeyOrigin", _param(p, "Origin", "AWS_KMS"))
    facts.add("kms:MultiRegion", "false")
    facts.add("kms:BypassPolicyLockoutSafetyCheck", _bypass(p))
    _add_request_tag_facts(facts, p.get("Tags"))
    if not _identity_only(world, caller, "kms:CreateKey", "*", facts):
        return "deny"
    if p.get("Tags") and not _identity_only(world, caller, "kms:TagResource", "*", facts):
        return "deny"
    if p.get("Policy") is not None and not _bypass(p):
        arn = p["_NewKeyArn"]
        parts = arn.split(":", 5)
        new_key = Key(
            arn=arn,
            key_id=parts[5].removeprefix("key/"),
            account=parts[4],
            region=parts[3],
            spec=spec,
            usage=usage,
            policy=p["Policy"],
            tags={t["TagKey"]: t["TagValue"] for t in p.get("Tags") or []},
        )
        if not _could_update_policy(world, caller, new_key, p["Policy"], call.now):
            return "lockout"
    return "allow"


def _decide_alias(world: World, call: Call) -> str:
    """AUTH 'Actions without a key policy': alias half on the alias ARN, key half on the target key(s)."""
    p, caller, op = call.params, call.caller, call.operation
    alias_name = p["AliasName"]
    if alias_name.startswith("arn:"):
        alias_arn, alias_name = alias_name, alias_name.split(":", 5)[5]
    else:
        alias_arn = f"arn:aws:kms:{call.region}:{caller.account}:{alias_name}"
    action = "kms:" + op
    if not _identity_only(world, caller, action, alias_arn, _common_facts(caller, call.now)):
        return "deny"
    targets = []
    if op in ("UpdateAlias", "DeleteAlias"):  # the current target
        parts = alias_arn.split(":", 5)
        targets.append(_key_by_alias(world, parts[4], parts[3], alias_name))
    if op in ("CreateAlias", "UpdateAlias"):  # the new target
        targets.append(resolve_key(world, call, p["TargetKeyId"])[0])
    for key in targets:
        if not _key_decision(world, call, action, key, _key_facts(call, key, None)):
            return "deny"
    return "allow"


def _decide_retire_grant(world: World, call: Call) -> str:
    """AUTH 'RetireGrant' (FS §8, GRANTS 'Retiring and revoking')."""
    p, caller = call.params, call.caller
    if p.get("GrantToken") is not None or (p.get("GrantId") is None and call.token_grants):
        grant_id = call.token_grants[0]
        found = [g for g in world.grants if g.grant_id == grant_id]
    else:
        key, _ = resolve_key(world, call, p["KeyId"])
        found = [g for g in world.grants if g.grant_id == p["GrantId"] and g.key_arn == key.arn]
    if len(found) != 1:
        raise ValueError("RetireGrant names no single grant")
    grant = found[0]
    key = _key_by_arn(world, grant.key_arn)
    facts = _key_facts(call, key, None)
    action = "kms:RetireGrant"
    # The key policy plays no part; an identity-policy Deny refuses.
    if _identity_has(world, caller, "Deny", action, key.arn, facts):
        return "deny"
    # The retiring principal: directly, or its account root delegating through an identity Allow.
    if grant.retiring is not None:
        if grant.retiring == caller.arn or (caller.kind == "session" and grant.retiring == caller.role_arn):
            return "allow"
        if grant.retiring == f"arn:aws:iam::{caller.account}:root" and _identity_allows(
            world, caller, action, key.arn, facts
        ):
            return "allow"
    # The grantee, when the grant includes RetireGrant (matched as in rule 5).
    if (
        "RetireGrant" in grant.operations
        and _grant_counts(grant, call, world.propagation_delay)
        and _grantee_matches(world, caller, grant, action, key, facts)
    ):
        return "allow"
    # The issuing account: its root, or its principals with an identity Allow.
    if _account_of(grant.issuing_account) == caller.account and _identity_allows(world, caller, action, key.arn, facts):
        return "allow"
    return "deny"


def decide(world: World, call: Call) -> str:
    """'allow' | 'deny' | 'lockout' for one request (see the brief)."""
    op, p, caller = call.operation, call.params, call.caller
    if op in ("ListKeys", "ListAliases", "GenerateRandom"):
        return _verdict(_identity_only(world, caller, "kms:" + op, "*", _common_facts(caller, call.now)))
    if op == "ListRetirableGrants":
        principal = p["RetiringPrincipal"]
        if _account_of(principal) != caller.account:
            return "deny"
        return _verdict(
            _identity_only(world, caller, "kms:ListRetirableGrants", principal, _common_facts(caller, call.now))
        )
    if op == "CreateKey":
        return _decide_create_key(world, call)
    if op in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        return _decide_alias(world, call)
    if op == "RetireGrant":
        return _decide_retire_grant(world, call)
    if op == "ReEncrypt":
        return _decide_reencrypt(world, call)
    if op in KEY_OPERATIONS:
        return _decide_key_operation(world, call)
    raise ValueError(f"unsupported operation {op}")
