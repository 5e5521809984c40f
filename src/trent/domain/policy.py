"""The AWS IAM policy language: parsing and statement evaluation, for key policies and identity policies.

`parse_policy` validates a document the way AWS does and compiles it (patterns, conditions) once; callers cache the
result by document text. `evaluate_statements` then finds the statements that apply to a request, described by
`RequestFacts`.
The KMS decision that combines key policy, identity policies and grants lives in `trent.domain.authz`.

Principal semantics, which the KMS decision relies on:

- ``"*"`` names everyone;
- an account principal (``"111122223333"`` or ``arn:aws:iam::111122223333:root``) in an **Allow** names only that
  account's root user: for the account's users and roles it *enables IAM policies* instead
  (`account_principal_statements`); in a **Deny** it names everyone in the account;
- a role ARN names the role's assumed-role sessions; user and session ARNs name exactly themselves;
- ``NotPrincipal`` (Deny only) exempts a caller only when its account is listed too, and — unless the caller is the
  account root — its user ARN, session ARN or role ARN (AWS checks the account first, then the principal).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trent.domain.policy_conditions import (
    Condition,
    ConditionSyntaxError,
    ConditionValue,
    OverlyPermissiveCondition,
    compile_conditions,
)
from trent.domain.policy_patterns import MatchTooCostly, PatternSet, VariableLookup, parse_template

__all__ = [
    "Alternatives",
    "ConditionValue",
    "Match",
    "Policy",
    "PolicyError",
    "PrincipalSet",
    "RequestFacts",
    "Statement",
    "account_principal_statements",
    "evaluate_statements",
    "parse_policy",
    "principal_matches",
    "trust_policy_document",
]

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"

_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT_MEMBERS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
_ACTION_RE = re.compile(r"[A-Za-z0-9*?-]+:[A-Za-z0-9*?_-]+")
_IDENTITY_SID_RE = re.compile(r"[0-9A-Za-z]*")
_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_ACTION_MEMO_LIMIT = 1024
_PRINCIPAL_ARN_RE = re.compile(r"arn:aws[a-z-]*:(iam|sts)::([0-9]{12}):(.+)", re.DOTALL)


class PolicyError(Exception):
    """A policy document that AWS would refuse; ``str(exc)`` says what is wrong and where."""


# --- request ------------------------------------------------------------------------------------------------------
class Alternatives(tuple[ConditionValue, ...]):
    """The values of one single-valued condition key whose names in the request differ only in case.

    Condition-key names are case-insensitive, encryption-context and tag keys are not: ``{"stage": "prod",
    "STAGE": "dev"}`` gives ``kms:EncryptionContext:stage`` two values. A statement that names such a key is
    evaluated once per combination of values, and only the safer answer counts (`_applies`).
    """

    __slots__ = ()


#: More combinations than this and a statement is not evaluated: an Allow is taken not to apply, a Deny to apply.
MAX_COMBINATIONS = 256


@dataclass(frozen=True)
class RequestFacts:
    """Everything about one request that policy evaluation looks at."""

    caller_arn: str  # arn:aws:iam::111122223333:user/alice, ...:root, arn:aws:sts::...:assumed-role/r/s
    caller_account: str
    caller_type: str  # "Root" | "User" | "AssumedRole"
    role_arn: str | None  # the role of an assumed-role session
    service_principal: str | None
    action: str  # "kms:Decrypt"
    resource: str  # the key ARN (or alias ARN, or "*")
    context: Mapping[str, ConditionValue] = field(default_factory=dict)  # condition keys, any case
    variables: Mapping[str, str] = field(default_factory=dict)  # policy variables without ${}, any case

    # Condition key and variable names are case-insensitive: fold them once per request, not once per condition.
    _context: dict[str, object] = field(init=False, repr=False, compare=False)
    _variables: dict[str, str] = field(init=False, repr=False, compare=False)
    #: Folded names that stand for several values (`Alternatives`): empty for almost every request.
    _collided: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded: dict[str, object] = {}
        collided: set[str] = set()
        for key, value in self.context.items():
            name = key.lower()
            if name not in folded:
                folded[name] = value
                continue
            previous = folded[name]
            values = previous if isinstance(previous, Alternatives) else Alternatives((previous,))  # type: ignore[arg-type]
            if value not in values:
                folded[name] = Alternatives((*values, value))
                collided.add(name)
        object.__setattr__(self, "_context", folded)
        object.__setattr__(self, "_collided", frozenset(collided))
        object.__setattr__(self, "_variables", {key.lower(): value for key, value in self.variables.items()})

    def _variable(self, name: str) -> str | None:
        """A policy variable by lower-cased name: `variables` first, then a single-valued string context key."""
        return _lookup(self._variables, self._context, name)

    def with_context(self, extra: Mapping[str, ConditionValue]) -> RequestFacts:
        """These facts with more condition keys (or other values of existing ones, matched case-insensitively)."""
        replaced = {key.lower() for key in extra}
        merged = {key: value for key, value in self.context.items() if key.lower() not in replaced}
        merged.update(extra)
        return RequestFacts(
            self.caller_arn,
            self.caller_account,
            self.caller_type,
            self.role_arn,
            self.service_principal,
            self.action,
            self.resource,
            merged,
            self.variables,
        )

    def for_action(self, action: str, resource: str | None = None) -> RequestFacts:
        """The same request's facts, for another action (and resource)."""
        return RequestFacts(
            self.caller_arn,
            self.caller_account,
            self.caller_type,
            self.role_arn,
            self.service_principal,
            action,
            self.resource if resource is None else resource,
            self.context,
            self.variables,
        )


def _lookup(variables: Mapping[str, str], context: Mapping[str, object], name: str) -> str | None:
    value = variables.get(name)
    if value is None:
        from_context = context.get(name)
        value = from_context if isinstance(from_context, str) else None
    return value


# --- compiled policy ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrincipalSet:
    """The principals a Principal or NotPrincipal element names."""

    anyone: bool = False
    accounts: frozenset[str] = frozenset()  # account IDs (the account principal)
    arns: frozenset[str] = frozenset()  # IAM users, assumed-role sessions, federated users: exact
    roles: frozenset[str] = frozenset()  # role ARNs: match the role's sessions
    services: frozenset[str] = frozenset()

    def names(self, facts: RequestFacts, *, whole_account: bool) -> bool:
        """Whether the caller is named. `whole_account`: an account principal names all of its principals."""
        if self.anyone or facts.caller_arn in self.arns:
            return True
        if facts.role_arn is not None and facts.role_arn in self.roles:
            return True
        if facts.caller_account in self.accounts and (whole_account or facts.caller_type == "Root"):
            return True
        return facts.service_principal is not None and facts.service_principal in self.services

    def exempts(self, facts: RequestFacts) -> bool:
        """Whether a NotPrincipal of these principals leaves the caller out (see the module docstring)."""
        if self.anyone:
            return True
        if facts.service_principal is not None and facts.service_principal in self.services:
            return True
        if facts.caller_account not in self.accounts:
            return False
        if facts.caller_type == "Root":
            return True
        return facts.caller_arn in self.arns or (facts.role_arn is not None and facts.role_arn in self.roles)


@dataclass(frozen=True, slots=True)
class Match:
    """A statement that applied to a request (or, with a `policy` like "grant ...", another source of permission)."""

    policy: str
    sid: str | None
    index: int
    effect: str

    def describe(self) -> str:
        """One line for explanations: policy name, Sid or statement number, effect (a grant: its ID and name)."""
        if self.policy.startswith("grant "):
            return f"{self.policy}" + (f' (name "{self.sid}")' if self.sid else "") + f" ({self.effect})"
        where = f'Sid "{self.sid}"' if self.sid else f"statement #{self.index + 1}"
        return f"{self.policy}: {where} ({self.effect})"


#: The one empty set of condition keys (most statements have no Condition; an empty frozenset is 216 bytes).
_NO_REFERENCES: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement. `actions`/`resources` are None when a key policy statement lacks them (it never
    matches, but AWS accepts it); `principals` is None in identity policies."""

    sid: str | None
    effect: str  # "Allow" | "Deny"
    index: int  # 0-based position in the policy
    principals: PrincipalSet | None = None
    not_principal: bool = False
    actions: PatternSet | None = None
    not_action: bool = False
    resources: PatternSet | None = None
    not_resource: bool = False
    conditions: tuple[Condition, ...] = ()
    policy_name: str = ""
    #: The lower-cased condition keys and policy variables the statement names (see `Alternatives`).
    references: frozenset[str] = frozenset()
    #: This statement as a `Match`, built once: decisions report the same statements again and again.
    match: Match = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "match", Match(self.policy_name, self.sid, self.index, self.effect))

    @property
    def effective(self) -> bool:
        """False for a statement that can never match (no Action or no Resource)."""
        return self.actions is not None and self.resources is not None


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed, compiled policy document."""

    name: str  # where it came from: "key policy", an identity policy's name
    id: str | None
    statements: tuple[Statement, ...]
    version: str = VERSION_2008
    #: action -> the effective statements whose Action/NotAction admits it. Actions come from a small fixed set
    #: (the API's operations), so this per-policy memo stays small; it is bounded all the same.
    _by_action: dict[str, tuple[Statement, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _context_free: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def statements_for(self, action: str) -> tuple[Statement, ...]:
        """The statements whose Action (or NotAction) admits `action`, in order; memoized per action."""
        found = self._by_action.get(action)
        if found is None:
            found = tuple(
                s
                for s in self.statements
                if s.actions is not None and s.resources is not None and s.actions.matches(action) != s.not_action
            )
            if len(self._by_action) < _ACTION_MEMO_LIMIT:
                self._by_action[action] = found
        return found

    def decides_without_context(self, action: str) -> bool:
        """Whether what this policy says about `action` depends only on the caller and the resource.

        True when no statement admitting `action` has a Condition or a policy variable in its Resource: then
        no condition key, time or request detail can change the outcome, and a decision may be reused for the
        same caller, action and resource.
        """
        free = self._context_free.get(action)
        if free is None:
            free = all(
                not s.conditions and s.resources is not None and not s.resources.has_variables
                for s in self.statements_for(action)
            )
            if len(self._context_free) < _ACTION_MEMO_LIMIT:
                self._context_free[action] = free
        return free


# --- parsing --------------------------------------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PolicyError(f'The policy has the member "{key}" twice in one object.')
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise PolicyError(f"The policy is not valid JSON: {name} is not a JSON value.")


def _load(document: str) -> Any:
    try:
        return json.loads(document, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"The policy is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None
    except RecursionError:
        raise PolicyError("The policy is not valid: it nests too deeply.") from None


def _string_list(value: object, where: str, member: str) -> list[str]:
    items: list[object] = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyError(f"{where}: {member} must not be an empty list.")
    strings: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise PolicyError(f"{where}: {member} must be a string or a list of strings, not {json.dumps(item)}.")
        strings.append(item)
    return strings


def _one_of(statement: dict[str, Any], member: str, where: str, *, required: bool) -> tuple[str | None, bool]:
    """Which of `member` / `Not<member>` is present: (name or None, negated?)."""
    present = [name for name in (member, f"Not{member}") if name in statement]
    if len(present) == 2:
        raise PolicyError(f"{where}: has both {member} and Not{member}; use one.")
    if not present:
        if required:
            raise PolicyError(f"{where}: needs {member} or Not{member}.")
        return None, False
    return present[0], present[0] != member


def _parse_principal(value: object, where: str, member: str) -> PrincipalSet:
    if value == "*":
        return PrincipalSet(anyone=True)
    if not isinstance(value, dict) or not value:
        raise PolicyError(f'{where}: {member} must be "*" or an object such as {{"AWS": "<ARN>"}}.')
    accounts: set[str] = set()
    arns: set[str] = set()
    roles: set[str] = set()
    services: set[str] = set()
    anyone = False
    for kind, entries in value.items():
        if kind == "Service":
            services.update(_string_list(entries, where, f"{member}.Service"))
            continue
        if kind != "AWS":
            raise PolicyError(f'{where}: {member} type "{kind}" is not supported (use "AWS" or "Service").')
        for entry in _string_list(entries, where, f"{member}.AWS"):
            if entry == "*":
                anyone = True
            elif "*" in entry or "?" in entry:
                raise PolicyError(f'{where}: {member} "{entry}" has a wildcard; only a bare "*" may.')
            elif _ACCOUNT_RE.fullmatch(entry):
                accounts.add(entry)
            else:
                _add_principal_arn(entry, where, member, accounts, arns, roles)
    return PrincipalSet(anyone, frozenset(accounts), frozenset(arns), frozenset(roles), frozenset(services))


def _add_principal_arn(
    entry: str, where: str, member: str, accounts: set[str], arns: set[str], roles: set[str]
) -> None:
    found = _PRINCIPAL_ARN_RE.fullmatch(entry)
    service, account, resource = found.groups() if found else ("", "", "")
    if service == "iam" and resource == "root":
        accounts.add(account)
    elif service == "iam" and resource.startswith("user/") and len(resource) > 5:
        arns.add(entry)
    elif service == "iam" and resource.startswith("role/") and len(resource) > 5:
        roles.add(entry)
    elif service == "sts" and re.fullmatch(r"assumed-role/[^/]+/[^/]+|federated-user/[^/]+", resource):
        arns.add(entry)
    else:
        raise PolicyError(
            f'{where}: {member} "{entry}" is not a valid AWS principal (an account ID, or the ARN of an account '
            "root, IAM user, IAM role, assumed-role session or federated user)."
        )


def _parse_actions(value: object, where: str, member: str) -> PatternSet:
    actions = _string_list(value, where, member)
    for action in actions:
        if action != "*" and not _ACTION_RE.fullmatch(action):
            raise PolicyError(f'{where}: {member} "{action}" is not an action; write "<service>:<action>", e.g. kms:*.')
    # Actions are case-insensitive and never hold policy variables.
    return PatternSet.of(actions, ignore_case=True, variables=False)


def _parse_resources(value: object, where: str, member: str, variables: bool) -> PatternSet:
    resources = _string_list(value, where, member)
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise PolicyError(f'{where}: {member} "{resource}" must be "*" or an ARN.')
    return PatternSet.of(resources, variables=variables)


def _parse_statement(
    raw: object, index: int, *, name: str, kind: Literal["resource", "identity"], variables: bool, sids: set[str]
) -> Statement:
    where = f"Statement {index + 1}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: must be a JSON object.")
    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise PolicyError(f"{where}: Sid must be a string.")
        where = f'Statement {index + 1} (Sid "{sid}")'
    for member in raw:
        if member not in _STATEMENT_MEMBERS:
            raise PolicyError(f'{where}: unknown member "{member}".')
    if kind == "identity" and sid is not None:
        if not _IDENTITY_SID_RE.fullmatch(sid):
            raise PolicyError(f"{where}: Statement IDs (SID) must be alpha-numeric ([0-9A-Za-z]*).")
        if sid in sids:
            raise PolicyError(f"{where}: Statement IDs (SID) in a single policy must be unique.")
        sids.add(sid)
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        shown = "missing" if effect is None else json.dumps(effect)
        raise PolicyError(f'{where}: Effect must be "Allow" or "Deny" (it is {shown}).')

    principal_member, not_principal = _one_of(raw, "Principal", where, required=kind == "resource")
    principals = None
    if principal_member is not None:
        if kind == "identity":
            raise PolicyError(f"{where}: {principal_member} is not allowed in an identity-based policy.")
        if not_principal and effect == "Allow":
            raise PolicyError(f"{where}: NotPrincipal can only be used with Effect Deny.")
        principals = _parse_principal(raw[principal_member], where, principal_member)

    # A key policy statement without Action or Resource is accepted but inert; identity policies need both.
    action_member, not_action = _one_of(raw, "Action", where, required=kind == "identity")
    actions = _parse_actions(raw[action_member], where, action_member) if action_member else None
    resource_member, not_resource = _one_of(raw, "Resource", where, required=kind == "identity")
    resources = _parse_resources(raw[resource_member], where, resource_member, variables) if resource_member else None

    conditions: tuple[Condition, ...] = ()
    references = set(_variables_named(raw.get(resource_member), variables)) if resource_member else set()
    if "Condition" in raw:
        try:
            conditions = compile_conditions(raw["Condition"], variables=variables)
        except OverlyPermissiveCondition as exc:
            raise PolicyError(str(exc)) from None  # AWS's message, verbatim
        except ConditionSyntaxError as exc:
            raise PolicyError(f"{where}: {exc}.") from None
        references.update(condition.key for condition in conditions)
        references.update(_variables_named(raw["Condition"], variables))
    return Statement(
        sid=sid,
        effect="Allow" if effect == "Allow" else "Deny",  # literals: one string shared by every cached statement
        index=index,
        principals=principals,
        not_principal=not_principal,
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        conditions=conditions,
        policy_name=name,
        references=frozenset(references) if references else _NO_REFERENCES,
    )


def _variables_named(element: object, variables: bool) -> set[str]:
    """The policy variables named in the strings of a JSON element (none in a Version 2008-10-17 policy)."""
    if not variables:
        return set()
    if isinstance(element, str):
        return set(parse_template(element, variables=True).variable_names)
    if isinstance(element, list):
        return set().union(*(_variables_named(item, variables) for item in element))
    if isinstance(element, dict):
        return set().union(*(_variables_named(item, variables) for item in element.values()))
    return set()


def trust_policy_document(document: str) -> str:
    """A role trust policy as a resource policy: its statements name no resource (the resource is the role), so
    each is given ``"Resource": "*"``. :raises PolicyError: if it is not JSON."""
    try:
        policy = json.loads(document)
    except (ValueError, RecursionError):
        raise PolicyError("The trust policy is not valid JSON.") from None
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, dict) and "Resource" not in statement and "NotResource" not in statement:
            statement["Resource"] = "*"
    return json.dumps(policy)


def parse_policy(document: str, *, name: str, kind: Literal["resource", "identity"]) -> Policy:
    """Parse and compile a policy document.

    :param name: how decisions name this policy ("key policy", an identity policy's name).
    :param kind: "resource" for key policies (Principal required), "identity" for IAM policies (Principal forbidden).
    :raises PolicyError: for anything AWS would refuse, with a message naming the statement and member.
    """
    data = _load(document)
    if not isinstance(data, dict):
        raise PolicyError("The policy must be a JSON object.")
    for member in data:
        if member not in _TOP_LEVEL:
            raise PolicyError(f'The policy has an unknown member "{member}" (allowed: Version, Id, Statement).')
    version = data.get("Version", VERSION_2008)
    if version not in (VERSION_2012, VERSION_2008):
        raise PolicyError(
            f'The policy Version must be "{VERSION_2012}" or "{VERSION_2008}", not {json.dumps(version)}.'
        )
    policy_id = data.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyError("The policy Id must be a string.")
    raw_statements = data.get("Statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError("The policy needs a Statement: an object or a non-empty list of objects.")
    variables = version == VERSION_2012  # Version 2008-10-17 has no policy variables: ${...} is plain text
    sids: set[str] = set()
    statements = tuple(
        _parse_statement(raw, i, name=name, kind=kind, variables=variables, sids=sids)
        for i, raw in enumerate(raw_statements)
    )
    # The module's own constant, not the parser's copy: thousands of cached policies then share one string.
    return Policy(name, policy_id, statements, VERSION_2012 if variables else VERSION_2008)


# --- evaluation -----------------------------------------------------------------------------------------------------
def principal_matches(statement: Statement, facts: RequestFacts) -> bool:
    """Whether the statement's Principal/NotPrincipal applies to the caller (always true without one).

    An account principal names only the account's root in an Allow, and everyone in the account in a Deny.
    """
    principals = statement.principals
    if principals is None:
        return True
    if statement.not_principal:
        return not principals.exempts(facts)
    return principals.names(facts, whole_account=statement.effect == "Deny")


def _matches(statement: Statement, resource: str, context: Mapping[str, object], lookup: VariableLookup) -> bool:
    """Resource and every Condition (the action is settled by `Policy.statements_for`)."""
    resources = statement.resources
    assert resources is not None  # statements_for yields effective statements only
    if resources.matches(resource, lookup) == statement.not_resource:
        return False
    for condition in statement.conditions:  # noqa: SIM110 - a loop: all(generator) costs ~1 µs more per statement
        if not condition.holds(context, lookup):
            return False
    return True


def _applies(statement: Statement, facts: RequestFacts) -> bool:
    """Whether the statement's resource and conditions match the request.

    A statement naming a key with several values (`Alternatives`) is evaluated for every combination of them:
    an Allow applies only if it applies in all of them, a Deny if it applies in any (docs/authorization.md).
    """
    collided = facts._collided
    try:
        if not collided or collided.isdisjoint(statement.references):
            return _matches(statement, facts.resource, facts._context, facts._variable)
        involved = [name for name in statement.references if name in collided]
        return _applies_in_every_combination(statement, facts, involved)
    except MatchTooCostly:
        return statement.effect != "Allow"  # the answer is not known: the safer one


def _applies_in_every_combination(statement: Statement, facts: RequestFacts, involved: list[str]) -> bool:
    allow = statement.effect == "Allow"
    choices: list[tuple[object, ...]] = [tuple(facts._context[name]) for name in involved]  # type: ignore[arg-type]
    combinations = 1
    for values in choices:
        combinations *= len(values)
    if combinations > MAX_COMBINATIONS:
        # Too many to try: the safer answer, for requests the statement's resource matches at all.
        resources = statement.resources
        assert resources is not None
        if not resources.has_variables and resources.matches(facts.resource) == statement.not_resource:
            return False
        return not allow
    for combination in itertools.product(*choices):
        context = {**facts._context, **dict(zip(involved, combination, strict=True))}

        def lookup(name: str, context: Mapping[str, object] = context) -> str | None:
            return _lookup(facts._variables, context, name)

        if _matches(statement, facts.resource, context, lookup) != allow:
            return not allow
    return allow


def evaluate_statements(
    policy: Policy, facts: RequestFacts, *, check_principal: bool
) -> tuple[list[Match], list[Match]]:
    """The (Allow, Deny) statements of `policy` that apply to the request.

    With `check_principal` the statement's Principal must name the caller (key policies); identity policies pass
    False. See `principal_matches` for the account principal.
    """
    allows: list[Match] = []
    denies: list[Match] = []
    for statement in policy.statements_for(facts.action):
        if check_principal and statement.principals is not None and not principal_matches(statement, facts):
            continue
        if _applies(statement, facts):
            (allows if statement.effect == "Allow" else denies).append(statement.match)
    return allows, denies


def account_principal_statements(policy: Policy, facts: RequestFacts, *, effect: str = "Allow") -> list[Match]:
    """`effect` statements whose Principal names the caller's account and whose action, resource and conditions match.

    In a key policy such an Allow "enables IAM policies": the account's users and roles are allowed when an identity
    policy of theirs allows too.
    """
    return [
        statement.match
        for statement in policy.statements_for(facts.action)
        if statement.effect == effect
        and not statement.not_principal
        and statement.principals is not None
        and facts.caller_account in statement.principals.accounts
        and _applies(statement, facts)
    ]


# --- what a submitted policy may name -------------------------------------------------------------------------------
def check_actions_exist(document: str) -> None:
    """Refuse a submitted policy (key or identity) that names a KMS action that does not exist, such as
    `kms:Decryptt`: it would silently allow or deny nothing. Wildcards and other services' actions pass. Checked
    when a policy is submitted, never at evaluation, so a policy stored before keeps being read as it was.

    :raises PolicyError: naming the action and the nearest real ones.
    """
    import difflib

    from trent.domain.operations import OPERATIONS

    known = {action.lower(): action for op in OPERATIONS.values() for action in op.actions}
    try:
        data = json.loads(document)
    except ValueError:
        return  # parse_policy says what is wrong with it
    statements = data.get("Statement") if isinstance(data, dict) else None
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict):
            continue
        for member in ("Action", "NotAction"):
            names = statement.get(member)
            for name in names if isinstance(names, list) else [names]:
                if (
                    isinstance(name, str)
                    and name.lower().startswith("kms:")
                    and not any(c in name for c in "*?")
                    and name.lower() not in known
                ):
                    close = difflib.get_close_matches(name, sorted(known.values()), n=2)
                    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
                    raise PolicyError(
                        f"Policy contains a statement with one or more invalid actions: {name} is not a KMS "
                        f"action{hint}"
                    )
