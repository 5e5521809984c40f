"""The Condition element of the AWS policy language: operators, request values, set operators.

A condition block ``{"StringEquals": {"kms:CallerAccount": ["111122223333", "444455556666"]}}`` compiles into one
`Condition` per (operator, key). Evaluation rules (AWS IAM):

- every Condition of a statement must hold (operators AND'ed, keys AND'ed); the values of one key are OR'ed, and a
  negated operator (``StringNotEquals``...) holds when the request value matches *none* of them;
- a key missing from the request: positive operators fail, negated operators hold, ``...IfExists`` holds,
  ``ForAllValues:`` holds (vacuous truth), ``ForAnyValue:`` fails, ``Null`` compares absence with its value;
- a multi-valued request key (a list) under a plain operator holds when any request value matches;
  ``ForAnyValue:`` likewise, ``ForAllValues:`` needs every request value to match. An empty list counts as missing;
- a request value of the wrong type (a word where a number is needed, a malformed IP) never matches.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trent.domain.policy_patterns import (
    Glob,
    PatternSet,
    Template,
    Token,
    VariableLookup,
    parse_template,
    split_tokens,
)

#: A condition value in the request context: a list is a multi-valued key.
ConditionValue = str | bool | int | float | list[str]


class ConditionSyntaxError(ValueError):
    """A malformed Condition; the policy parser adds the statement's name to the message."""


class OverlyPermissiveCondition(ConditionSyntaxError):
    """The AWS refusal of ``ForAllValues`` with a single-valued key; its message is AWS's, word for word."""


_MISSING: Any = object()
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_OVERLY_PERMISSIVE = (
    "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued "
    "condition key matches requests without the specified encryption context or with an unspecified encryption "
    "context. To fix, remove ForAllValues."
)


# --- request value coercion (never raises) -----------------------------------------------------------------
def _as_string(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _parse_number(text: str) -> int | float | None:
    text = text.strip()
    if _NUMBER_RE.fullmatch(text) is None:
        return None
    try:
        return int(text)
    except ValueError:
        number = float(text)
        return number if math.isfinite(number) else None


def _as_number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return _parse_number(value)
    return None


def _parse_date(text: str) -> float | None:
    number = _parse_number(text)
    if number is not None:
        return float(number)  # epoch seconds
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # AWS dates without an offset are UTC
    return moment.timestamp()


def _as_date(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        return _parse_date(value)
    return None


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    return None


def _as_ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


# --- operator families: each tests ONE request value against the policy values (positive sense) --------------
class _Test:
    """The positive test of an operator family for one request value."""

    def __call__(self, value: object, lookup: VariableLookup) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class _StringEquals(_Test):
    def __init__(self, templates: Sequence[Template], fold: bool) -> None:
        self._fold = fold
        static = [t.literal() for t in templates if not t.has_variables]
        self._static = frozenset((s.casefold() if fold else s) for s in static if s is not None)
        self._dynamic = tuple(t for t in templates if t.has_variables)

    def __call__(self, value: object, lookup: VariableLookup) -> bool:
        text = _as_string(value)
        if text is None:
            return False
        if self._fold:
            text = text.casefold()
        if text in self._static:
            return True
        for template in self._dynamic:
            expected = template.literal(lookup)  # a variable without a value never matches
            if expected is not None and (expected.casefold() if self._fold else expected) == text:
                return True
        return False


class _StringLike(_Test):
    def __init__(self, templates: Sequence[Template]) -> None:
        self._patterns = PatternSet(templates)

    def __call__(self, value: object, lookup: VariableLookup) -> bool:
        text = _as_string(value)
        return text is not None and self._patterns.matches(text, lookup)


class _Compare(_Test):
    """Numeric and date comparisons: request value <op> policy value."""

    def __init__(
        self, values: Sequence[float], compare: Callable[[Any, Any], bool], coerce: Callable[[object], Any]
    ) -> None:
        self._values = tuple(values)
        self._compare = compare
        self._coerce = coerce

    def __call__(self, value: object, lookup: VariableLookup) -> bool:
        actual = self._coerce(value)
        return actual is not None and any(self._compare(actual, expected) for expected in self._values)


class _Bool(_Test):
    def __init__(self, values: Sequence[bool]) -> None:
        self._values = frozenset(values)

    def __call__(self, value: object, lookup: VariableLookup) -> bool:
        return _as_bool(value) in self._values


class _IpAddress(_Test):
    def __init__(self, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self._networks = tuple(networks)

    def __call__(self, value: object, lookup: VariableLookup) -> bool:
        address = _as_ip(value)
        return address is not None and any(address in network for network in self._networks)


class _ArnPattern:
    """One ArnLike value: the six ARN parts are matched separately, so a part's wildcard cannot span a ``:``.

    A value that is not six parts long (``"*"``, say) is matched as a whole.
    """

    __slots__ = ("_parts", "_template")

    def __init__(self, template: Template) -> None:
        self._template = template
        tokens = None if template.has_variables else template.tokens()
        self._parts = _arn_parts(tokens) if tokens is not None else None

    def matches(self, value: str, lookup: VariableLookup) -> bool:
        parts = self._parts
        if parts is None:
            tokens = self._template.tokens(lookup)
            if tokens is None:
                return False
            parts = _arn_parts(tokens)
        if len(parts) == 1:
            return parts[0].matches(value)
        values = value.split(":", 5)
        return len(values) == 6 and all(p.matches(v) for p, v in zip(parts, values, strict=True))


def _arn_parts(tokens: list[Token]) -> list[Glob]:
    parts = split_tokens(tokens, ":", 5)
    if len(parts) != 6:
        return [Glob(tokens)]
    return [Glob(part) for part in parts]


class _Arn(_Test):
    def __init__(self, templates: Sequence[Template]) -> None:
        self._patterns = tuple(_ArnPattern(t) for t in templates)

    def __call__(self, value: object, lookup: VariableLookup) -> bool:
        return isinstance(value, str) and any(p.matches(value, lookup) for p in self._patterns)


# --- compiling policy values -------------------------------------------------------------------------------------
def _policy_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    assert isinstance(value, str)
    return value


def _policy_number(value: object, op: str) -> float:
    number = None if isinstance(value, bool) else _as_number(value)
    if number is None or not math.isfinite(number):
        raise ConditionSyntaxError(f"{op} needs numbers; {value!r} is not a number")
    return number


def _policy_date(value: object, op: str) -> float:
    moment = _as_date(value)
    if moment is None:
        raise ConditionSyntaxError(f"{op} needs ISO 8601 dates or epoch seconds; {value!r} is neither")
    return moment


def _policy_bool(value: object, op: str) -> bool:
    flag = _as_bool(value)
    if flag is None:
        raise ConditionSyntaxError(f'{op} needs "true" or "false"; {value!r} is neither')
    return flag


def _policy_network(value: object, op: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(_policy_text(value).strip(), strict=False)
    except ValueError:
        raise ConditionSyntaxError(f"{op} needs IP addresses or CIDR blocks; {value!r} is neither") from None


_LESS_GREATER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "NotEquals": operator.eq,  # negated by the operator's `negated` flag
    "LessThan": operator.lt,
    "LessThanEquals": operator.le,
    "GreaterThan": operator.gt,
    "GreaterThanEquals": operator.ge,
}

#: base operator name -> negated?
_OPERATORS: dict[str, bool] = {
    "StringEquals": False,
    "StringNotEquals": True,
    "StringEqualsIgnoreCase": False,
    "StringNotEqualsIgnoreCase": True,
    "StringLike": False,
    "StringNotLike": True,
    "Bool": False,
    "IpAddress": False,
    "NotIpAddress": True,
    "ArnEquals": False,
    "ArnNotEquals": True,
    "ArnLike": False,
    "ArnNotLike": True,
    "Null": False,
    **{f"Numeric{suffix}": suffix == "NotEquals" for suffix in _LESS_GREATER},
    **{f"Date{suffix}": suffix == "NotEquals" for suffix in _LESS_GREATER},
}


def _compile_test(base: str, raw: list[object], *, variables: bool) -> _Test:
    def templates() -> list[Template]:
        return [parse_template(_policy_text(v), variables=variables) for v in raw]

    if base in ("StringEquals", "StringNotEquals"):
        return _StringEquals(templates(), fold=False)
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return _StringEquals(templates(), fold=True)
    if base in ("StringLike", "StringNotLike"):
        return _StringLike(templates())
    if base.startswith("Numeric"):
        numbers = [_policy_number(v, base) for v in raw]
        return _Compare(numbers, _LESS_GREATER[base.removeprefix("Numeric")], _as_number)
    if base.startswith("Date"):
        dates = [_policy_date(v, base) for v in raw]
        return _Compare(dates, _LESS_GREATER[base.removeprefix("Date")], _as_date)
    if base == "Bool":
        return _Bool([_policy_bool(v, base) for v in raw])
    if base in ("IpAddress", "NotIpAddress"):
        return _IpAddress([_policy_network(v, base) for v in raw])
    assert base.startswith("Arn"), base
    return _Arn(templates())


# --- the condition -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key) pair of a Condition element, compiled."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    key: str  # lower-cased: condition key names are case-insensitive
    negated: bool
    if_exists: bool
    set_operator: str | None  # "ForAllValues", "ForAnyValue" or None
    null_values: frozenset[bool] | None  # for Null: the accepted answers to "is the key absent?"
    test: _Test | None

    def holds(self, context: Mapping[str, object], lookup: VariableLookup) -> bool:
        """Whether the request context (keys lower-cased) satisfies this condition."""
        raw = context.get(self.key, _MISSING)
        if self.null_values is not None:
            return (_request_values(raw) is None) in self.null_values
        test = self.test
        assert test is not None
        if isinstance(raw, str) and self.set_operator is None:  # the common case, without the generic machinery
            return test(raw, lookup) != self.negated
        values = _request_values(raw)
        if values is None:
            if self.if_exists or self.set_operator == "ForAllValues":
                return True
            if self.set_operator == "ForAnyValue":
                return False
            return self.negated
        if self.set_operator == "ForAllValues":
            return all(test(v, lookup) != self.negated for v in values)
        if self.set_operator == "ForAnyValue":
            return any(test(v, lookup) != self.negated for v in values)
        # Plain operator: positive holds if any value matches; negated holds if none does.
        return any(test(v, lookup) for v in values) != self.negated


def _request_values(raw: object) -> Sequence[object] | None:
    """The request values of a key, or None when it is absent (an empty list counts as absent)."""
    if raw is _MISSING or raw is None:
        return None
    if isinstance(raw, list | tuple | set | frozenset):
        return list(raw) or None
    return (raw,)


def _split_operator(name: str) -> tuple[str | None, str, bool]:
    """("ForAnyValue" | "ForAllValues" | None, base operator, IfExists?) — or ConditionSyntaxError."""
    set_operator: str | None = None
    rest = name
    for prefix in ("ForAllValues:", "ForAnyValue:"):
        if name.startswith(prefix):
            set_operator, rest = prefix[:-1], name[len(prefix) :]
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base = rest.removesuffix("IfExists") if if_exists else rest
    if base not in _OPERATORS:
        raise ConditionSyntaxError(f'Condition operator "{name}" is not supported')
    if base == "Null" and (if_exists or set_operator):
        raise ConditionSyntaxError(
            f'Condition operator "{name}" is not supported: Null takes no IfExists or set prefix'
        )
    return set_operator, base, if_exists


def _values_list(value: object, op: str, key: str) -> list[object]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConditionSyntaxError(f'{op} "{key}" has an empty value list')
    for item in items:
        if not isinstance(item, str | bool | int | float):
            raise ConditionSyntaxError(f'{op} "{key}" values must be strings, numbers or booleans, not {item!r}')
    return list(items)


def _is_single_valued_tag_or_context(key: str) -> bool:
    return key.startswith("kms:encryptioncontext:") or key.startswith("aws:requesttag/")


def compile_conditions(element: object, *, variables: bool) -> tuple[Condition, ...]:
    """Compile a statement's Condition element. `variables` is False for policy Version 2008-10-17.

    :raises ConditionSyntaxError: with a message naming the operator and key.
    """
    if not isinstance(element, dict):
        raise ConditionSyntaxError("Condition must be a JSON object of operators")
    conditions: list[Condition] = []
    for op, block in element.items():
        set_operator, base, if_exists = _split_operator(op)
        if not isinstance(block, dict):
            raise ConditionSyntaxError(f'Condition operator "{op}" must map condition keys to values')
        for key, value in block.items():
            if not key:
                raise ConditionSyntaxError(f'Condition operator "{op}" has an empty condition key')
            lowered = key.lower()
            if set_operator == "ForAllValues" and _is_single_valued_tag_or_context(lowered):
                raise OverlyPermissiveCondition(_OVERLY_PERMISSIVE)
            raw = _values_list(value, op, key)
            if base == "Null":
                null_values = frozenset(_policy_bool(v, base) for v in raw)
                conditions.append(Condition(op, lowered, False, False, None, null_values, None))
                continue
            test = _compile_test(base, raw, variables=variables)
            conditions.append(Condition(op, lowered, _OPERATORS[base], if_exists, set_operator, None, test))
    return tuple(conditions)
