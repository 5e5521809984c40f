"""Differential testing of authorization: random worlds and call sequences, decided by the reference model
(`model.py`, written apart from production) and answered by Trent, compared call by call.

- `Generator` draws worlds (keys with random key policies, tags, aliases, grants, identity policies of a fixed
  population of principals in two accounts) and calls (every operation of docs/authorization.md, leaning into
  the dangerous corners: case-colliding context keys, absent condition keys, account-root and cross-account
  grantees, delegation through CreateGrant, tokens of grants retired a moment ago, Deny statements, disabled
  keys). It draws from a `random.Random`: a seeded one for volume, or hypothesis' `st.randoms()` to shrink.
- A driver builds the world in a real Trent and runs calls: `InProcessDriver` calls the handlers over a real
  SQLite store (the production decision as handlers make it, no HTTP); `LiveDriver` speaks boto3 to live
  servers (several workers, several nodes), where caches and processes are in play too.
- `run_sequence` compares each answer with the model's and applies the effects of the calls that succeeded to
  the model's world, so later calls see fresh grants, retired grants, new policies, tags and aliases.

Trent's answer is classified as "deny" (AccessDeniedException), "lockout" (the lockout check's
MalformedPolicyDocumentException) or "allow" (success, DryRunOperationException, or any error that only comes
after the decision: DisabledException, ValidationException about the key, ...). The generator only makes calls
whose identifiers, ciphertexts, tokens and syntax are valid, so nothing answers before the decision; an error
that can only come before it is a harness bug and fails the run.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.authz_model import model

REGION = "us-east-1"
#: Where replicas of multi-Region keys live: a related key there must be decided on its own facts and grants.
REPLICA_REGION = "eu-west-1"
A, B = "111111111111", "222222222222"
UNHOSTED = "999999999999"
ACCOUNTS = (A, B)

#: Error codes that can only come before the decision: seeing one means the harness made an invalid call.
BEFORE_THE_DECISION = frozenset(
    {
        "InvalidGrantTokenException",
        "InvalidCiphertextException",
        "InvalidArnException",
        "NotFoundException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SerializationException",
        "InvalidMarkerException",
    }
)
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."

# --- the population -------------------------------------------------------------------------------------------------
USERS = ("alice", "bob")
ROLE = "app"
SESSION = "s1"
ASSUMER = "assumer"  # the user who assumes the roles; named in their trust policies, never a caller


def root_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def user_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE}"


def session_arn(account: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{ROLE}/{SESSION}"


def trust_policy(account: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": user_arn(account, ASSUMER)}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


#: Who calls: (account, kind, name) — kind "root", "user" or "session".
CALLERS = tuple(
    (account, kind, name)
    for account in ACCOUNTS
    for kind, name in (("root", "root"), ("user", "alice"), ("user", "bob"), ("session", SESSION))
)
#: Principals with identity policies: users and roles (a session uses its role's).
POLICY_HOLDERS = tuple(p for account in ACCOUNTS for p in (*(user_arn(account, u) for u in USERS), role_arn(account)))


# --- value pools: small, so that policies and requests meet ------------------------------------------------------
CONTEXT_KEYS = ("dept", "DEPT", "stage", "Stage", "project")
CONTEXT_VALUES = ("HR", "IT", "hr", "prod", "dev")
TAG_KEYS = ("env", "Env", "team")
TAG_VALUES = ("prod", "dev", "blue")
ALIASES = ("alias/a1", "alias/a2", "alias/A1")
KEY_KINDS = (
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", 12),
    ("HMAC_256", "GENERATE_VERIFY_MAC", 2),
    ("ECC_NIST_P256", "SIGN_VERIFY", 2),
    ("ECC_NIST_P256", "KEY_AGREEMENT", 1),
)
SUPPORTED = {
    "ENCRYPT_DECRYPT": (
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    ),
    "GENERATE_VERIFY_MAC": ("GenerateMac", "VerifyMac"),
    "SIGN_VERIFY": ("Sign", "Verify", "GetPublicKey"),
    "KEY_AGREEMENT": ("DeriveSharedSecret", "GetPublicKey"),
}
ALWAYS = ("DescribeKey", "CreateGrant", "RetireGrant")
ALL_GRANT_OPERATIONS = tuple(sorted({op for ops in SUPPORTED.values() for op in ops} | set(ALWAYS)))
KEY_MANAGEMENT = (
    "GetKeyPolicy",
    "ListKeyPolicies",
    "EnableKey",
    "DisableKey",
    "UpdateKeyDescription",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
    "ListGrants",
    "RevokeGrant",
)
PUBLIC_P256 = bytes.fromhex(  # a fixed P-256 public key (SubjectPublicKeyInfo DER) for DeriveSharedSecret
    "3059301306072a8648ce3d020106082a8648ce3d03010703420004"
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)


# --- what a generated world and its calls are made of --------------------------------------------------------------
@dataclass
class KeyPlan:
    name: str  # "k0", ...: replaced by the real ARN once created
    account: str
    spec: str
    usage: str
    policy: str  # a template: "{k0}" and friends are replaced by real ARNs
    tags: dict[str, str]
    aliases: list[str]
    contexts: list[dict[str, str]]  # encryption contexts of the ciphertexts made at setup (symmetric keys)
    region: str = REGION
    multi_region: bool = False
    replica_of: str | None = None  # the name of its primary, for a replica (made by ReplicateKey)


@dataclass
class GrantPlan:
    key: str
    grantee: str
    operations: list[str]
    retiring: str | None
    constraints: dict[str, Any] | None
    name: str | None
    deleted: bool


@dataclass
class WorldPlan:
    keys: list[KeyPlan]
    grants: list[GrantPlan]
    identity_policies: dict[str, list[str]]  # templates


@dataclass
class Built:
    """A world as it exists in Trent: real ARNs, grant IDs and tokens, ciphertexts; and the model's view of it."""

    arns: dict[str, str]  # key name -> ARN
    ciphertexts: dict[tuple[str, str], bytes]  # (key ARN, canonical context) -> blob
    tokens: dict[str, str] = field(default_factory=dict)  # grant ID -> a token
    world: model.World = field(default_factory=lambda: model.World({}, {}, []))
    deleted_keys: set[str] = field(default_factory=set)  # keys scheduled for deletion: still usable for authz
    disabled: set[str] = field(default_factory=set)


def canonical(context: dict[str, str] | None) -> str:
    return json.dumps(sorted((context or {}).items()))


@dataclass
class Case:
    """One call, in the model's terms (`call`), with what a driver needs to make it."""

    call: model.Call
    caller: tuple[str, str, str]
    ciphertext: bytes | None = None
    tokens: tuple[str, ...] = ()

    def describe(self) -> str:
        params = {k: (v.hex()[:16] + "..." if isinstance(v, bytes) else v) for k, v in self.call.params.items()}
        return f"{self.call.caller.arn} {self.call.operation} {json.dumps(params, default=str, sort_keys=True)}"


# --- the generator -------------------------------------------------------------------------------------------------
_WORLDS = itertools.count()


class Generator:
    """Random worlds and calls. Every draw goes through `self.rnd`, so a hypothesis `Random` can shrink them."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        # Aliases outlive a world in the store: each world names its own.
        suffix = f"-w{next(_WORLDS)}"
        self.aliases = tuple(alias + suffix for alias in ALIASES)

    def chance(self, p: float) -> bool:
        return self.rnd.random() < p

    def pick(self, items: Sequence[Any]) -> Any:
        return items[self.rnd.randrange(len(items))]

    def some(self, items: Sequence[Any], low: int = 0, high: int | None = None) -> list[Any]:
        high = len(items) if high is None else min(high, len(items))
        return self.rnd.sample(list(items), self.rnd.randint(low, high))

    # --- worlds ---------------------------------------------------------------------------------------------------
    def world(self) -> WorldPlan:
        keys = []
        for index in range(self.rnd.randint(1, 3)):
            spec, usage = self.key_kind()
            account = A if self.chance(0.75) else B
            contexts = [self.context() for _ in range(3)] if spec == "SYMMETRIC_DEFAULT" else []
            keys.append(
                KeyPlan(
                    name=f"k{index}",
                    account=account,
                    spec=spec,
                    usage=usage,
                    policy=self.key_policy(account, [f"k{i}" for i in range(index + 1)]),
                    tags={self.pick(TAG_KEYS): self.pick(TAG_VALUES) for _ in range(self.rnd.randint(0, 2))},
                    aliases=[],
                    contexts=contexts,
                    multi_region=self.chance(0.3),
                )
            )
        # Some multi-Region keys have a replica: the same ID in another Region, with a policy, tags, aliases and
        # grants of its own.
        for primary in [k for k in keys if k.multi_region]:
            if self.chance(0.7):
                keys.append(
                    KeyPlan(
                        name=primary.name + "r",
                        account=primary.account,
                        spec=primary.spec,
                        usage=primary.usage,
                        policy=self.key_policy(primary.account, [k.name for k in keys] + [primary.name + "r"]),
                        tags={self.pick(TAG_KEYS): self.pick(TAG_VALUES) for _ in range(self.rnd.randint(0, 2))},
                        aliases=[],
                        contexts=[self.context() for _ in range(3)] if primary.contexts else [],
                        region=REPLICA_REGION,
                        multi_region=True,
                        replica_of=primary.name,
                    )
                )
        # Alias names are per account and region: give each key distinct ones.
        for account in ACCOUNTS:
            for region in (REGION, REPLICA_REGION):
                names = list(self.aliases)
                self.rnd.shuffle(names)
                for key in (k for k in keys if k.account == account and k.region == region):
                    if names and self.chance(0.5):
                        key.aliases.append(names.pop())
        grants = [self.grant_plan(self.pick(keys)) for _ in range(self.rnd.randint(0, 6))]
        # Grants of related multi-Region keys to principals that make calls: each must count on its own key only.
        for replica in [k for k in keys if k.replica_of is not None]:
            primary = next(k for k in keys if k.name == replica.replica_of)
            for key in self.some([primary, replica], 1, 2):
                grant = self.grant_plan(key)
                grant.grantee = model_caller(*self.pick(CALLERS)).arn
                grants.append(grant)
        key_names = [k.name for k in keys]
        identity = {
            holder: [self.identity_policy(holder, key_names) for _ in range(self.rnd.randint(0, 2))]
            for holder in POLICY_HOLDERS
        }
        return WorldPlan(keys, grants, identity)

    def key_kind(self) -> tuple[str, str]:
        weights = [w for _, _, w in KEY_KINDS]
        spec, usage, _ = self.rnd.choices(KEY_KINDS, weights=weights)[0]
        return spec, usage

    def context(self) -> dict[str, str]:
        context = {}
        for _ in range(self.rnd.choice((0, 1, 1, 2, 2, 3))):
            context[self.pick(CONTEXT_KEYS)] = self.pick(CONTEXT_VALUES)
        return context

    def principal(self) -> str:
        account = self.pick((A, A, B, UNHOSTED))
        kind = self.rnd.randrange(5)
        if kind == 0 or account == UNHOSTED:
            return root_arn(account)
        if kind == 2:
            return role_arn(account)
        if kind == 3:
            return session_arn(account)
        return user_arn(account, self.pick(USERS))

    def grant_plan(self, key: KeyPlan) -> GrantPlan:
        usable = (*SUPPORTED[key.usage], *ALWAYS)
        operations = self.some(usable, 1, 4)
        if operations == ["CreateGrant"]:
            operations.append("DescribeKey")
        constraints = None
        if key.spec == "SYMMETRIC_DEFAULT" and self.chance(0.5):
            kind = self.pick(("EncryptionContextSubset", "EncryptionContextEquals"))
            constraints = {kind: self.context()}
        return GrantPlan(
            key=key.name,
            grantee=self.principal(),
            operations=operations,
            retiring=self.principal() if self.chance(0.5) else None,
            constraints=constraints,
            name=self.pick(("n1", "n2")) if self.chance(0.2) else None,
            deleted=self.chance(0.25),
        )

    # --- policies ---------------------------------------------------------------------------------------------------
    def key_policy(self, account: str, key_names: list[str]) -> str:
        statements = []
        if self.chance(0.75):  # usually the default statement, so that IAM is enabled
            statements.append(
                {"Effect": "Allow", "Principal": {"AWS": root_arn(account)}, "Action": "kms:*", "Resource": "*"}
            )
        for _ in range(self.rnd.randint(0 if statements else 1, 3)):
            statements.append(self.statement(resource_policy=True, key_names=key_names))
        return json.dumps({"Version": self.pick(("2012-10-17", "2012-10-17", "2008-10-17")), "Statement": statements})

    def identity_policy(self, holder: str, key_names: list[str]) -> str:
        statements = [self.statement(resource_policy=False, key_names=key_names) for _ in range(self.rnd.randint(1, 3))]
        if self.chance(0.4):  # a broad grant of everything, which the other statements narrow or deny
            statements.insert(0, {"Effect": "Allow", "Action": self.pick(("kms:*", "*")), "Resource": "*"})
        return json.dumps({"Version": "2012-10-17", "Statement": statements})

    def statement(self, *, resource_policy: bool, key_names: list[str]) -> dict[str, Any]:
        effect = "Deny" if self.chance(0.25) else "Allow"
        statement: dict[str, Any] = {"Effect": effect}
        if resource_policy:
            if effect == "Deny" and self.chance(0.15):
                statement["NotPrincipal"] = {"AWS": [self.principal() for _ in range(self.rnd.randint(1, 2))]}
            elif self.chance(0.3):
                statement["Principal"] = "*"
            else:
                statement["Principal"] = {"AWS": [self.principal() for _ in range(self.rnd.randint(1, 2))]}
        actions = self.pick(
            (
                "kms:*",
                "kms:Decrypt",
                "kms:Encrypt",
                ["kms:Encrypt", "kms:Decrypt"],
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:CreateGrant",
                ["kms:CreateGrant", "kms:RetireGrant"],
                "kms:Describe*",
                "kms:*Key*",
                "kms:PutKeyPolicy",
                "kms:Sign",
                "kms:?enerateMac",
                "kms:Tag*",
                "kms:*Alias*",
                "kms:List*",
                "kms:DeriveSharedSecret",
                "kms:RevokeGrant",
            )
        )
        statement["NotAction" if self.chance(0.1) else "Action"] = actions
        resource = "*"
        if not resource_policy or self.chance(0.1):
            resource = self.pick(
                (
                    "*",
                    "*",
                    "{" + self.pick(key_names) + "}",
                    f"arn:aws:kms:*:{self.pick(ACCOUNTS)}:key/*",
                    "arn:aws:kms:*:${aws:PrincipalAccount}:*",
                    "arn:aws:kms:us-east-1:*:alias/*",
                    "arn:aws:kms:*:*:key/*",
                )
            )
        statement["NotResource" if self.chance(0.05) else "Resource"] = resource
        if self.chance(0.55):
            statement["Condition"] = self.condition()
        return statement

    def condition(self) -> dict[str, Any]:
        block: dict[str, dict[str, Any]] = {}
        for _ in range(self.rnd.randint(1, 2)):
            operator, key, values = self.condition_entry()
            block.setdefault(operator, {})[key] = values
        return block

    def condition_entry(self) -> tuple[str, str, Any]:
        choice = self.rnd.randrange(30)
        if choice >= 28:  # what tells related multi-Region keys apart
            if self.chance(0.3):
                return "Bool", "kms:MultiRegion", self.pick(("true", "false"))
            return (
                self.pick(("StringEquals", "StringNotEquals", "StringEqualsIfExists", "StringNotEqualsIfExists")),
                "kms:MultiRegionKeyType",
                self.values(("PRIMARY", "REPLICA")),
            )
        if choice >= 26:  # the facts each operation supplies: a dropped one shows here
            return (
                self.pick(("StringEquals", "StringNotEquals", "StringEqualsIfExists", "StringNotEqualsIfExists")),
                self.pick(("kms:EncryptionAlgorithm", "kms:DataKeyPairSpec", "kms:ReEncryptOnSameKey")),
                self.values(("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256", "ECC_NIST_P256", "true")),
            )
        if choice == 24:  # what a PutKeyPolicy request carries, which the lockout check must carry too
            return (
                self.pick(("StringEquals", "StringNotEquals", "StringLike")),
                "kms:PolicyName",
                self.values(("default", "other", "def*")),
            )
        if choice == 25:
            return (
                "Null",
                self.pick(("kms:PolicyName", "kms:BypassPolicyLockoutSafetyCheck")),
                self.pick(("true", "false")),
            )
        string_ops = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringLike", "StringNotLike")
        if choice < 6:
            op = self.pick(string_ops) + self.pick(("", "", "IfExists"))
            key = "kms:EncryptionContext:" + self.pick(CONTEXT_KEYS)
            return op, key, self.values((*CONTEXT_VALUES, "*", "H?", "${aws:username}"))
        if choice < 8:
            op = self.pick(("ForAnyValue:", "ForAllValues:")) + self.pick(("StringEquals", "StringLike"))
            return op, "kms:EncryptionContextKeys", self.values((*CONTEXT_KEYS, "st*"))
        if choice == 8:
            return "Null", "kms:EncryptionContext:" + self.pick(CONTEXT_KEYS), self.pick(("true", "false"))
        if choice == 9:
            return (
                "Null",
                self.pick(("kms:EncryptionContextKeys", "kms:PolicyName", "kms:GranteePrincipal")),
                self.pick(("true", "false")),
            )
        if choice == 10:
            return self.pick(("StringEquals", "StringNotEquals")), "kms:CallerAccount", self.values(ACCOUNTS)
        if choice == 11:
            return (
                self.pick(("ArnLike", "ArnNotLike", "ArnEquals")),
                "aws:PrincipalArn",
                self.values(
                    (
                        f"arn:aws:iam::{A}:*",
                        f"arn:aws:iam::*:role/{ROLE}",
                        user_arn(B, "alice"),
                        f"arn:aws:iam::{A}:user/*",
                    )
                ),
            )
        if choice == 12:
            op = self.pick(("ForAllValues:StringEquals", "ForAnyValue:StringEquals", "ForAllValues:StringLike"))
            return op, "kms:GrantOperations", self.values(("Decrypt", "Encrypt", "CreateGrant", "Describe*", "Re*"))
        if choice == 13:
            return (
                self.pick(("StringEquals", "StringLike")),
                "kms:GranteePrincipal",
                self.values((user_arn(A, "alice"), f"arn:aws:iam::{A}:*", "${aws:PrincipalArn}", root_arn(A))),
            )
        if choice == 14:
            return (
                self.pick(("StringEquals", "StringLike", "StringNotEquals")),
                "kms:RequestAlias",
                self.values((*ALIASES, "alias/a*")),
            )
        if choice == 15:
            return (
                self.pick(("StringEquals", "StringNotEqualsIfExists", "StringEqualsIfExists")),
                self.pick(("kms:EncryptionAlgorithm", "kms:SigningAlgorithm", "kms:MacAlgorithm", "kms:MessageType")),
                self.values(("SYMMETRIC_DEFAULT", "ECDSA_SHA_256", "HMAC_SHA_256", "RAW", "DIGEST")),
            )
        if choice == 16:
            return (
                self.pick(("StringEquals", "StringNotEquals")),
                self.pick(("kms:KeySpec", "kms:KeyUsage")),
                self.values(("SYMMETRIC_DEFAULT", "HMAC_256", "ENCRYPT_DECRYPT", "SIGN_VERIFY")),
            )
        if choice == 17:
            return (
                self.pick(("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase")),
                "aws:ResourceTag/" + self.pick(TAG_KEYS),
                self.values(TAG_VALUES),
            )
        if choice == 18:
            return (
                self.pick(("ForAnyValue:StringEquals", "ForAllValues:StringLike")),
                "kms:ResourceAliases",
                self.values((*ALIASES, "alias/*")),
            )
        if choice == 19:
            op = self.pick(("StringEquals", "StringNotEquals"))
            return op, "aws:RequestTag/" + self.pick(TAG_KEYS), self.values(TAG_VALUES)
        if choice == 20:
            return (
                self.pick(("Bool", "Bool")),
                self.pick(
                    (
                        "aws:SecureTransport",
                        "kms:ReEncryptOnSameKey",
                        "kms:BypassPolicyLockoutSafetyCheck",
                        "kms:GrantIsForAWSResource",
                        "kms:MultiRegion",
                    )
                ),
                self.pick(("true", "false")),
            )
        if choice == 21:
            return (
                self.pick(("NumericLessThan", "NumericGreaterThanEquals", "NumericEquals")),
                self.pick(("kms:ScheduleKeyDeletionPendingWindowInDays", "kms:RotationPeriodInDays", "aws:EpochTime")),
                self.values(("7", "30", "365", "1000", "1900000000")),
            )
        if choice == 22:
            return (
                self.pick(("DateGreaterThan", "DateLessThan")),
                "aws:CurrentTime",
                self.values(("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z")),
            )
        return self.pick(("IpAddress", "NotIpAddress")), "aws:SourceIp", self.values(("127.0.0.0/8", "10.0.0.0/8"))

    def values(self, pool: Sequence[str]) -> Any:
        chosen = self.some(pool, 1, 2)
        return chosen[0] if len(chosen) == 1 and self.chance(0.5) else chosen

    # --- calls -----------------------------------------------------------------------------------------------------
    def call(self, built: Built, now: float) -> Case:
        account, kind, name = self.pick(CALLERS)
        caller = model_caller(account, kind, name)
        world = built.world
        keys = list(world.keys.values())
        replicas = [k for k in keys if k.multi_region and not k.primary]
        key = self.pick(replicas if replicas and self.chance(0.25) else keys)
        op = self.pick(self.operations_for(key, world))
        params: dict[str, Any] = {}
        ciphertext_key = None
        ciphertext = None
        tokens: list[str] = []

        def key_id(allow_alias: bool) -> str:
            own = key.account == account
            forms = ["arn"]
            if own:
                forms.append("id")
            if allow_alias and key.aliases:
                forms.append("alias-arn")
                if own:
                    forms.append("alias")
            form = self.pick(forms)
            if form == "id":
                return key.key_id
            if form == "alias":
                return str(self.pick(key.aliases))
            if form == "alias-arn":
                return f"arn:aws:kms:{key.region}:{key.account}:{self.pick(key.aliases)}"
            return key.arn

        def with_tokens() -> None:
            grants = [g for g in world.grants if g.key_arn == key.arn and g.grant_id in built.tokens]
            related = {k.arn for k in keys if k.key_id == key.key_id and k.arn != key.arn}
            if related and self.chance(0.5):  # a token of a related key's grant gives nothing, though the ID is one
                grants = [g for g in world.grants if g.key_arn in related and g.grant_id in built.tokens]
            elif self.chance(0.1):  # a token of a grant on another key gives nothing here
                grants = [g for g in world.grants if g.grant_id in built.tokens]
            if grants and self.chance(0.4):
                for grant in self.some(grants, 1, 2):
                    tokens.append(grant.grant_id)
                params["GrantTokens"] = [built.tokens[g] for g in tokens]

        def dry_run() -> None:
            if self.chance(0.5):
                params["DryRun"] = True

        if op in ("Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"):
            params["KeyId"] = key_id(True)
            context = self.context()
            if context:
                params["EncryptionContext"] = context
            if op == "Encrypt":
                params["Plaintext"] = b"p"
            else:
                params["NumberOfBytes"] = 16
            with_tokens()
            dry_run()
        elif op in ("GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"):
            params["KeyId"] = key_id(True)
            params["KeyPairSpec"] = "ECC_NIST_P256"
            context = self.context()
            if context:
                params["EncryptionContext"] = context
            with_tokens()
            params["DryRun"] = True  # skip the key pair generation: the decision is the same
        elif op in ("Decrypt", "ReEncrypt"):
            made = [(arn, ctx) for (arn, ctx) in built.ciphertexts if arn == key.arn]
            _, ctx_text = self.pick(made)
            context = dict(json.loads(ctx_text))
            ciphertext = built.ciphertexts[(key.arn, ctx_text)]
            ciphertext_key = key.arn
            prefix = "Source" if op == "ReEncrypt" else ""
            params["CiphertextBlob"] = ciphertext
            if context:
                params[f"{prefix}EncryptionContext"] = context
            if self.chance(0.4):
                params[f"{prefix}KeyId"] = key_id(True)
            if op == "ReEncrypt":
                destination = self.pick(
                    [
                        k
                        for k in keys
                        if k.usage == "ENCRYPT_DECRYPT" and k.spec == "SYMMETRIC_DEFAULT" and k.region == key.region
                    ]
                )
                key_save = key
                key = destination
                params["DestinationKeyId"] = key_id(True)
                key = key_save
                destination_context = self.context()
                if destination_context:
                    params["DestinationEncryptionContext"] = destination_context
            with_tokens()
            dry_run()
        elif op in ("Sign", "Verify"):
            params["KeyId"] = key_id(True)
            params["Message"] = b"m"
            params["SigningAlgorithm"] = "ECDSA_SHA_256"
            if op == "Verify":
                params["Signature"] = b"\x30\x06\x02\x01\x01\x02\x01\x01"
            with_tokens()
            dry_run()
        elif op in ("GenerateMac", "VerifyMac"):
            params["KeyId"] = key_id(True)
            params["Message"] = b"m"
            params["MacAlgorithm"] = "HMAC_SHA_256"
            if op == "VerifyMac":
                params["Mac"] = b"\x00" * 32
            with_tokens()
            dry_run()
        elif op == "DeriveSharedSecret":
            params["KeyId"] = key_id(True)
            params["KeyAgreementAlgorithm"] = "ECDH"
            params["PublicKey"] = PUBLIC_P256
            with_tokens()
            dry_run()
        elif op in ("DescribeKey", "GetPublicKey"):
            params["KeyId"] = key_id(True)
            with_tokens()
        elif op == "CreateGrant":
            params["KeyId"] = key_id(False)
            usable = (*SUPPORTED[key.usage], *ALWAYS)
            operations = self.some(usable if self.chance(0.8) else ALL_GRANT_OPERATIONS, 1, 3)
            if operations == ["CreateGrant"]:
                operations.append("Decrypt")
            params["Operations"] = operations
            params["GranteePrincipal"] = self.principal()
            if self.chance(0.4):
                params["RetiringPrincipal"] = self.principal()
            if self.chance(0.5):
                params["Constraints"] = {
                    self.pick(("EncryptionContextSubset", "EncryptionContextEquals")): self.context()
                }
            with_tokens()
            dry_run()
        elif op == "RetireGrant":
            grant = self.pick([g for g in world.grants if g.deleted_at is None])
            key = world.keys[grant.key_arn]  # called in the Region of the grant's key
            if self.chance(0.5):
                params["GrantToken"] = built.tokens[grant.grant_id]
                tokens.append(grant.grant_id)
            else:
                grant_key = world.keys[grant.key_arn]
                params["KeyId"] = (
                    grant_key.arn if grant_key.account != account or self.chance(0.5) else grant_key.key_id
                )
                params["GrantId"] = grant.grant_id
            dry_run()
        elif op == "RevokeGrant":
            grants = [g for g in world.grants if g.key_arn == key.arn and g.deleted_at is None]
            params["KeyId"] = key_id(False)
            params["GrantId"] = self.pick(grants).grant_id
            dry_run()
        elif op == "PutKeyPolicy":
            params["KeyId"] = key_id(False)
            params["Policy"] = fill(self.key_policy(key.account, list(built.arns)), built.arns)
            if self.chance(0.2):
                params["BypassPolicyLockoutSafetyCheck"] = True
        elif op in (
            "GetKeyPolicy",
            "ListKeyPolicies",
            "ListResourceTags",
            "ListGrants",
            "EnableKey",
            "DisableKey",
            "CancelKeyDeletion",
            "DisableKeyRotation",
            "GetKeyRotationStatus",
        ):
            params["KeyId"] = key_id(False)
        elif op == "UpdateKeyDescription":
            params["KeyId"] = key_id(False)
            params["Description"] = "d"
        elif op == "ScheduleKeyDeletion":
            params["KeyId"] = key_id(False)
            params["PendingWindowInDays"] = self.pick((7, 30))
        elif op == "EnableKeyRotation":
            params["KeyId"] = key_id(False)
            if self.chance(0.5):
                params["RotationPeriodInDays"] = self.pick((90, 365))
        elif op == "TagResource":
            params["KeyId"] = key_id(False)
            tags = {self.pick(TAG_KEYS): self.pick(TAG_VALUES) for _ in range(self.rnd.randint(1, 2))}
            params["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in tags.items()]
        elif op == "UntagResource":
            params["KeyId"] = key_id(False)
            params["TagKeys"] = self.some(TAG_KEYS, 1, 2)
        elif op in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
            return self.alias_call(built, caller, (account, kind, name), now)
        elif op in ("ListKeys", "ListAliases", "GenerateRandom"):
            if op == "GenerateRandom":
                params["NumberOfBytes"] = 8
            return Case(model.Call(op, params, caller, now, REGION), (account, kind, name))
        elif op == "ListRetirableGrants":
            params["RetiringPrincipal"] = self.principal()
            return Case(model.Call(op, params, caller, now, REGION), (account, kind, name))
        elif op == "CreateKey":
            if self.chance(0.6):
                policy = fill(self.key_policy(account, list(built.arns)), built.arns)
                params["Policy"] = policy
                if self.chance(0.2):
                    params["BypassPolicyLockoutSafetyCheck"] = True
            if self.chance(0.3):
                params["Tags"] = [{"TagKey": self.pick(TAG_KEYS), "TagValue": self.pick(TAG_VALUES)}]
            params["_NewKeyArn"] = f"arn:aws:kms:{REGION}:{account}:key/{uuid.uuid4()}"
            return Case(model.Call(op, params, caller, now, REGION), (account, kind, name))
        else:
            raise AssertionError(op)
        call = model.Call(
            op, params, caller, now, key.region, ciphertext_key=ciphertext_key, token_grants=tuple(tokens)
        )
        return Case(call, (account, kind, name), ciphertext=ciphertext, tokens=tuple(params.get("GrantTokens", ())))

    def operations_for(self, key: model.Key, world: model.World) -> list[str]:
        crypto = {
            "ENCRYPT_DECRYPT": [
                "Encrypt",
                "Encrypt",
                "Decrypt",
                "Decrypt",
                "ReEncrypt",
                "GenerateDataKey",
                "GenerateDataKeyWithoutPlaintext",
                "GenerateDataKeyPair",
            ],
            "GENERATE_VERIFY_MAC": ["GenerateMac", "VerifyMac"],
            "SIGN_VERIFY": ["Sign", "Verify", "GetPublicKey"],
            "KEY_AGREEMENT": ["DeriveSharedSecret", "GetPublicKey"],
        }[key.usage]
        ops = crypto * 3 + ["DescribeKey", "CreateGrant", "CreateGrant", "CreateGrant", "PutKeyPolicy", "PutKeyPolicy"]
        ops += [*KEY_MANAGEMENT, "RetireGrant", "RetireGrant", "CreateAlias", "UpdateAlias", "DeleteAlias"]
        ops += ["ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants", "CreateKey"]
        live = [g for g in world.grants if g.deleted_at is None]
        if not live:
            ops = [op for op in ops if op != "RetireGrant"]
        if not [g for g in live if g.key_arn == key.arn]:
            ops = [op for op in ops if op != "RevokeGrant"]
        return ops

    def alias_call(self, built: Built, caller: model.Caller, who: tuple[str, str, str], now: float) -> Case:
        account = caller.account
        own_keys = [k for k in built.world.keys.values() if k.account == account and k.region == REGION]
        used = {alias: k for k in own_keys for alias in k.aliases}
        free = [alias for alias in self.aliases if alias not in used]
        choices = []
        if own_keys and free:
            choices.append("CreateAlias")
        if used and own_keys:
            choices.append("UpdateAlias")
        if used:
            choices.append("DeleteAlias")
        if not choices:
            return Case(model.Call("ListAliases", {}, caller, now, REGION), who)
        op = self.pick(choices)
        if op == "CreateAlias":
            params = {"AliasName": self.pick(free), "TargetKeyId": self.pick(own_keys).key_id}
        elif op == "UpdateAlias":
            alias = self.pick(sorted(used))
            same_kind = [k for k in own_keys if (k.spec, k.usage) == (used[alias].spec, used[alias].usage)]
            params = {"AliasName": alias, "TargetKeyId": self.pick(same_kind).key_id}
        else:
            params = {"AliasName": self.pick(sorted(used))}
        return Case(model.Call(op, params, caller, now, REGION), who)


def fill(template: str, arns: dict[str, str]) -> str:
    for name, arn in arns.items():
        template = template.replace("{" + name + "}", arn)
    return template


def model_caller(account: str, kind: str, name: str) -> model.Caller:
    if kind == "root":
        return model.Caller(root_arn(account), account, "root", account)
    if kind == "user":
        return model.Caller(user_arn(account, name), account, "user", f"AIDA{account}{name}", user_name=name)
    return model.Caller(
        session_arn(account), account, "session", f"AROA{account}:{SESSION}", role_arn=role_arn(account)
    )


# --- comparing ---------------------------------------------------------------------------------------------------
@dataclass
class Divergence:
    case: Case
    expected: str
    actual: str
    detail: str

    def __str__(self) -> str:
        return f"model {self.expected}, Trent {self.actual} ({self.detail}): {self.case.describe()}"


@dataclass
class Tally:
    calls: int = 0
    allowed: int = 0
    denied: int = 0
    lockouts: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    by_operation: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, operation: str, expected: str) -> None:
        self.by_operation[(operation, expected)] += 1
        self.calls += 1
        if expected == "allow":
            self.allowed += 1
        elif expected == "deny":
            self.denied += 1
        else:
            self.lockouts += 1

    def __str__(self) -> str:
        return (
            f"{self.calls} calls: {self.allowed} allowed, {self.denied} denied, {self.lockouts} lockouts; "
            f"{len(self.divergences)} divergences"
        )

    def coverage(self) -> str:
        """Allowed/denied counts per operation: an operation never allowed (or never denied) is not compared."""
        operations = sorted({op for op, _ in self.by_operation})
        return ", ".join(
            f"{op} {self.by_operation[(op, 'allow')]}/{self.by_operation[(op, 'deny')]}" for op in operations
        )


def classify(code: str | None, message: str | None) -> str:
    if code is None or code == "DryRunOperationException":
        return "allow"
    if code == "AccessDeniedException":
        return "deny"
    if code == "MalformedPolicyDocumentException" and message == LOCKOUT_MESSAGE:
        return "lockout"
    if code in BEFORE_THE_DECISION:
        return f"error-before-decision:{code}"
    return "allow"


class Driver:
    """What `run_sequence` needs of a Trent: build a world, answer a call, change an identity policy."""

    def build(self, plan: WorldPlan) -> Built:  # pragma: no cover - interface
        raise NotImplementedError

    def answer(self, case: Case) -> tuple[str | None, str | None, dict[str, Any]]:  # pragma: no cover
        """(error code or None, message, response)."""
        raise NotImplementedError

    def put_identity_policies(self, holder: str, documents: list[str]) -> None:  # pragma: no cover
        raise NotImplementedError


def run_sequence(driver: Driver, gen: Generator, calls: int, tally: Tally, *, stop_at_first: bool = True) -> None:
    """Build one random world, then make `calls` random calls, each compared with the model."""
    built = driver.build(gen.world())
    for _ in range(calls):
        if gen.chance(0.03):  # an administrator changes an identity policy between two calls
            holder = gen.pick(POLICY_HOLDERS)
            documents = [
                fill(gen.identity_policy(holder, list(built.arns)), built.arns) for _ in range(gen.rnd.randint(0, 2))
            ]
            driver.put_identity_policies(holder, documents)
            policies = dict(built.world.identity_policies)
            policies[holder] = documents
            built.world = dataclasses.replace(built.world, identity_policies=policies)
        case = gen.call(built, time.time())
        expected = model.decide(built.world, case.call)
        code, message, response = driver.answer(case)
        actual = classify(code, message)
        tally.add(case.call.operation, expected)
        if actual != expected:
            tally.divergences.append(Divergence(case, expected, actual, f"{code}: {message}"))
            if stop_at_first:
                return
        if code is None:
            apply_effects(built, case, response)


def apply_effects(built: Built, case: Case, response: dict[str, Any]) -> None:
    """What a call that succeeded changed, in the model's world."""
    call = case.call
    params = call.params
    world = built.world
    keys = dict(world.keys)

    def key_of(identifier: str) -> model.Key:
        key, _ = model.resolve_key(world, call, identifier)
        return key

    if call.operation == "CreateGrant" and not params.get("DryRun"):
        key = key_of(params["KeyId"])
        grant_id = response["GrantId"]
        if grant_id not in {g.grant_id for g in world.grants}:
            grant = model.Grant(
                grant_id=grant_id,
                key_arn=key.arn,
                grantee=params["GranteePrincipal"],
                operations=frozenset(params["Operations"]),
                issuing_account=call.caller.account,
                created_at=0.0,
                retiring=params.get("RetiringPrincipal"),
                constraints=params.get("Constraints"),
            )
            built.world = dataclasses.replace(world, grants=[*world.grants, grant])
        built.tokens[grant_id] = response["GrantToken"]
    elif call.operation in ("RetireGrant", "RevokeGrant") and not params.get("DryRun"):
        grant_id = params.get("GrantId") or call.token_grants[0]
        grants = [dataclasses.replace(g, deleted_at=0.0) if g.grant_id == grant_id else g for g in world.grants]
        built.world = dataclasses.replace(world, grants=grants)
    elif call.operation == "PutKeyPolicy":
        key = key_of(params["KeyId"])
        keys[key.arn] = dataclasses.replace(key, policy=params["Policy"])
        built.world = dataclasses.replace(world, keys=keys)
    elif call.operation in ("TagResource", "UntagResource"):
        key = key_of(params["KeyId"])
        tags = dict(key.tags)
        if call.operation == "TagResource":
            tags.update({t["TagKey"]: t["TagValue"] for t in params["Tags"]})
        else:
            for tag_key in params["TagKeys"]:
                tags.pop(tag_key, None)
        keys[key.arn] = dataclasses.replace(key, tags=tags)
        built.world = dataclasses.replace(world, keys=keys)
    elif call.operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        alias = params["AliasName"]
        for arn, key in keys.items():
            # An alias is of one account and one Region: the same name elsewhere is another alias.
            if key.account == call.caller.account and key.region == call.region and alias in key.aliases:
                keys[arn] = dataclasses.replace(key, aliases=tuple(a for a in key.aliases if a != alias))
        if call.operation != "DeleteAlias":
            target = key_of(params["TargetKeyId"])
            target = keys[target.arn]
            keys[target.arn] = dataclasses.replace(target, aliases=(*target.aliases, alias))
        built.world = dataclasses.replace(world, keys=keys)


def setup_world(
    plan: WorldPlan,
    *,
    create_key: Callable[[KeyPlan], tuple[str, str]],
    replicate: Callable[[KeyPlan, str], tuple[str, str]],
    encrypt: Callable[[KeyPlan, str, dict[str, str]], bytes],
    tag: Callable[[KeyPlan, str], None],
    alias: Callable[[KeyPlan, str, str], None],
    create_grant: Callable[[GrantPlan, str, str], tuple[str, str]],
    delete_grant: Callable[[GrantPlan, str, str], None],
    put_key_policy: Callable[[KeyPlan, str, str], None],
    put_identity_policies: Callable[[str, list[str]], None],
) -> Built:
    """Build `plan` through the driver's primitives, in an order every step is allowed in: keys with their
    default policy, their tags, aliases, ciphertexts and grants, and only then their random policies."""
    arns: dict[str, str] = {}
    ids: dict[str, str] = {}
    for key in plan.keys:  # replicas come after their primaries
        if key.replica_of is None:
            arns[key.name], ids[key.name] = create_key(key)
        else:
            arns[key.name], ids[key.name] = replicate(key, arns[key.replica_of])
    built = Built(arns=arns, ciphertexts={})
    for key in plan.keys:
        tag(key, arns[key.name])
        for name in key.aliases:
            alias(key, arns[key.name], name)
        for context in key.contexts:
            built.ciphertexts[(arns[key.name], canonical(context))] = encrypt(key, arns[key.name], context)
    grants = []
    for grant in plan.grants:
        key = next(k for k in plan.keys if k.name == grant.key)
        grant_id, token = create_grant(grant, arns[key.name], key.account)
        built.tokens[grant_id] = token
        deleted_at = None
        if grant.deleted:
            delete_grant(grant, arns[key.name], grant_id)
            deleted_at = 0.0
        grants.append(
            model.Grant(
                grant_id=grant_id,
                key_arn=arns[key.name],
                grantee=grant.grantee,
                operations=frozenset(grant.operations),
                issuing_account=key.account,
                created_at=0.0,
                retiring=grant.retiring,
                constraints=grant.constraints,
                deleted_at=deleted_at,
            )
        )
    keys = {}
    for key in plan.keys:
        policy = fill(key.policy, arns)
        put_key_policy(key, arns[key.name], policy)
        keys[arns[key.name]] = model.Key(
            arn=arns[key.name],
            key_id=ids[key.name],
            account=key.account,
            region=key.region,
            spec=key.spec,
            usage=key.usage,
            policy=policy,
            multi_region=key.multi_region,
            primary=key.replica_of is None,
            tags=dict(key.tags),
            aliases=tuple(key.aliases),
        )
    identity = {}
    for holder, templates in plan.identity_policies.items():
        documents = [fill(t, arns) for t in templates]
        put_identity_policies(holder, documents)
        identity[holder] = documents
    built.world = model.World(keys=keys, identity_policies=identity, grants=grants)
    return built
