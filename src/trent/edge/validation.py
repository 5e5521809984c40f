"""Request validation driven by botocore's KMS service model.

Every AWS JSON 1.1 request body is checked against the operation's input shape as botocore describes it;
there are no hand-written schemas, so a newer botocore brings new operations and constraints for free.
Validation happens in two conceptual phases, the way AWS's "Coral" front end does it:

1. *Deserialization*: the JSON value must have the member's wire type. The first mismatch raises
   :class:`~trent.domain.errors.SerializationException` immediately (AWS never collects these).
2. *Constraints*: ``required``, ``min``/``max`` (value range or length), ``enum`` and ``pattern``. All
   violations are collected in model member order and raised as one
   :class:`~trent.domain.errors.ValidationException`, worded exactly like AWS::

       1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: ...

Both phases run in a single pass over the body: a type error simply discards whatever constraint
violations were collected before it, which is indistinguishable from running the phases one after the
other.

Paths in messages
-----------------
* a top-level member is its name with the first letter lower-cased: ``keyId``;
* nested structure members are joined with ``.``: ``xksProxyAuthenticationCredential.accessKeyId``;
* list elements are 1-based and followed by ``member``: ``tags.1.member.tagValue``;
* map entries are 1-based in document order, followed by ``key`` or ``value``:
  ``encryptionContext.2.key`` / ``encryptionContext.2.value``. (AWS itself reports map entry problems
  against the whole map; per-entry paths are more useful and no KMS map has entry constraints today.)

Rendering of values
-------------------
Strings as-is, numbers in decimal, booleans as ``true``/``false``, lists as ``[a, b]``, maps and
structures as ``{k=v, ...}``, blobs as ``java.nio.HeapByteBuffer[pos=0 lim=N cap=N]`` (N = decoded
length), a missing value as ``Value null``. Anything that is, or contains, a shape or member marked
``sensitive`` in the model is never rendered: ``Value at 'plaintext' failed to satisfy ...``.

Other decisions
---------------
Type-error wording (``STRING_VALUE can not be converted to an Integer``, ``Expected list or null``...)
follows what Coral front ends of other AWS JSON services have been observed to return. Beyond that:

* unknown members are ignored and dropped from the result, as AWS ignores them;
* ``null`` means absent everywhere. Null list elements are dropped (observed on other Coral services);
  null map values are dropped too, by analogy;
* a top-level ``null`` body is an empty request;
* blobs are standard-alphabet base64 with mandatory padding. Surplus padding and non-zero trailing bits
  are refused as well, with the wording DynamoDB's Coral was observed to use. Blobs are decoded to
  ``bytes`` in the result, and their length constraints apply to the decoded bytes;
* string lengths are counted in code points (Java counts UTF-16 units: they differ only for characters
  outside the Basic Multilingual Plane);
* integers must be JSON integers (not booleans, not floats) within the Java range of the shape's type;
* timestamps are JSON numbers (epoch seconds, the only form the SDKs send) and are returned unchanged;
* model patterns are Java regular expressions matched against the whole value. They are translated once
  at compile time; a pattern using a construct Python's :mod:`re` cannot express is not enforced rather
  than rejecting requests AWS would accept (every pattern in today's KMS model is translatable).
"""

from __future__ import annotations

import binascii
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

import botocore.loaders
import botocore.model

from trent.domain.errors import SerializationException, UnknownOperationException, ValidationException
from trent.edge.java_regex import compile_java_pattern

__all__ = ["RequestValidator", "service_model"]


def service_model(service_name: str) -> botocore.model.ServiceModel:
    """botocore's model of a service, as `botocore.session.Session.get_service_model` returns it, read with
    botocore's loader alone: a session would import botocore's client, waiters and docs (~0.1 s of CPU in every
    worker and command) to build the same model."""
    loader = botocore.loaders.create_loader()
    # Straight to the service's newest version: `load_service_model` first lists all ~400 services on disk.
    version = loader.determine_latest_version(service_name, "service-2")
    return botocore.model.ServiceModel(loader.load_data(f"{service_name}/{version}/service-2"), service_name)


#: A member path, or a lazily built list/map element path ``(parent, index, "member"|"key"|"value")``.
#: Element paths are only formatted when a violation is reported, which keeps the happy path cheap.
_Path = str | tuple[str, int, str]
#: A node's check: (non-null JSON value, path, violations so far) -> converted value.
_Check = Callable[[Any, _Path, list[str]], Any]

_a2b_base64: Final = binascii.a2b_base64
_B64_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX: Final = {c: i for i, c in enumerate(_B64_ALPHABET)}

# Java's integral ranges: Coral refuses numbers that do not fit the member's Java type.
_INTEGRAL_RANGES: Final = {
    "byte": (-(2**7), 2**7 - 1, "a Byte"),
    "short": (-(2**15), 2**15 - 1, "a Short"),
    "integer": (-(2**31), 2**31 - 1, "an Integer"),
    "long": (-(2**63), 2**63 - 1, "a Long"),
}


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _resolve(path: _Path) -> str:
    if isinstance(path, str):
        return path
    parent, index, suffix = path
    return f"{parent}.{index}.{suffix}"


def _child(parent: str, label: str) -> str:
    return f"{parent}.{label}" if parent else label


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _token(value: object) -> str:
    """The name Coral gives a JSON scalar in its conversion errors."""
    if value is True:
        return "TRUE_VALUE"
    if value is False:
        return "FALSE_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, int | float):
        return "NUMBER_VALUE"
    return "VALUE"  # not a JSON type; only reachable when called with non-JSON Python objects


def _scalar_type_error(value: object, target: str) -> SerializationException:
    """The error for a value of the wrong type where a scalar (string, number, blob...) is expected."""
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected.")
    return SerializationException(f"{_token(value)} can not be converted to {target}")


#: Violations listed in one ValidationException, and their characters in all; the rest are only counted. A value
#: longer than MAX_QUOTED_VALUE characters is quoted up to that length (twice the longest string the model allows).
MAX_LISTED_VIOLATIONS: Final = 100
MAX_LISTED_CHARACTERS: Final = 65_536
MAX_QUOTED_VALUE: Final = 16_384


#: Trent's bound on an encryption context: AWS documents none, but every condition on kms:EncryptionContext:*
#: costs time in proportion to it, and every audit record stores it (docs/compatibility.md).
MAX_ENCRYPTION_CONTEXT_BYTES: Final = 8192
_CONTEXT_MEMBERS: Final = ("EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext")


def limit_encryption_contexts(request: Mapping[str, Any]) -> None:
    """:raises ValidationException: an encryption context whose keys and values exceed the bound, in UTF-8."""
    for member in _CONTEXT_MEMBERS:
        context = request.get(member)
        if not context:
            continue
        size = sum(
            len(k.encode("utf-8", "surrogatepass")) + len(v.encode("utf-8", "surrogatepass"))
            for k, v in context.items()
        )
        if size > MAX_ENCRYPTION_CONTEXT_BYTES:
            raise ValidationException(
                f"1 validation error detected: Value at '{_lower_first(member)}' failed to satisfy constraint: "
                f"Member must have keys and values of at most {MAX_ENCRYPTION_CONTEXT_BYTES} bytes in all"
            )


class _Violations(list[str]):
    """Every violation counted, the first ones kept (see MAX_LISTED_*): a request with 262,000 bad list items must
    not make a 100 MB error message, nor audit record."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self._characters = 0

    def __bool__(self) -> bool:  # a violation counts even when it is not listed
        return self.total > 0

    @property
    def full(self) -> bool:
        """No more violations will be listed, only counted."""
        return len(self) >= MAX_LISTED_VIOLATIONS or self._characters >= MAX_LISTED_CHARACTERS

    def append(self, violation: str) -> None:
        self.total += 1
        if len(self) < MAX_LISTED_VIOLATIONS and self._characters + len(violation) <= MAX_LISTED_CHARACTERS:
            self._characters += len(violation)
            super().append(violation)


def _report(errors: list[str], node: _Node, value: Any, path: _Path, constraint: str) -> None:
    """Record a violation; past what a message lists, only count it (formatting each of 262,000 bad list items
    cost ~26 MB for the length of the request)."""
    if isinstance(errors, _Violations) and errors.full:
        errors.total += 1
        return
    errors.append(_violation(node, value, path, constraint))


def _violation(node: _Node, value: Any, path: _Path, constraint: str) -> str:
    where = _resolve(path)
    if node.sensitive:
        return f"Value at '{where}' failed to satisfy constraint: {constraint}"
    shown = node.show(value)
    if len(shown) > MAX_QUOTED_VALUE:
        shown = shown[:MAX_QUOTED_VALUE] + f"... ({len(shown)} characters)"
    return f"Value '{shown}' at '{where}' failed to satisfy constraint: {constraint}"


def _null_violation(path: str) -> str:
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


# --------------------------------------------------------------------------------------------------
# compiled nodes
# --------------------------------------------------------------------------------------------------
class _Node:
    """One compiled shape. ``check`` type-checks and converts a non-null value, collecting violations."""

    __slots__ = ("sensitive",)

    def __init__(self, sensitive: bool) -> None:
        # True when the shape is, or contains, something sensitive: its value is then never rendered.
        self.sensitive = sensitive

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        raise NotImplementedError

    def checker(self) -> _Check:
        """The fastest bound check for this node (specialised variants skip constraints it lacks)."""
        return self.check

    def show(self, value: Any) -> str:
        """Render an already converted value the way Java's toString would."""
        return str(value)


class _AnyNode(_Node):
    """Shapes this validator does not understand (e.g. documents): accepted as they are."""

    __slots__ = ()

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        return value


class _LengthBounds:
    __slots__ = ("bounded", "max_len", "max_msg", "min_len", "min_msg")

    def __init__(self, shape: botocore.model.Shape) -> None:
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        self.min_len: int = lo if isinstance(lo, int) else 0
        self.max_len: int = hi if isinstance(hi, int) else sys.maxsize
        self.bounded = self.min_len > 0 or self.max_len < sys.maxsize
        self.min_msg = f"Member must have length greater than or equal to {lo}"
        self.max_msg = f"Member must have length less than or equal to {hi}"

    def report(self, node: _Node, value: Any, size: int, path: _Path, errors: list[str]) -> None:
        if size < self.min_len:
            _report(errors, node, value, path, self.min_msg)
        if size > self.max_len:
            _report(errors, node, value, path, self.max_msg)


#: The order in which AWS lists an enum's values in its messages, where it is known: it is fixed but not the
#: model's (it looks hash-ordered, and no rule we tried reproduces every sample). Other enums are listed in
#: model order.
_AWS_ENUM_ORDER: Final[dict[str, tuple[str, ...]]] = {
    # as AWS answers it (observed)
    "MacAlgorithmSpec": ("HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512"),
}


class _StringNode(_Node):
    __slots__ = ("bounds", "enum", "enum_msg", "fullmatch", "max_len", "min_len", "pattern_msg")

    def __init__(self, shape: botocore.model.Shape, sensitive: bool) -> None:
        super().__init__(sensitive)
        self.bounds = _LengthBounds(shape)
        self.min_len, self.max_len = self.bounds.min_len, self.bounds.max_len
        pattern = shape.metadata.get("pattern")
        self.fullmatch = compile_java_pattern(pattern) if isinstance(pattern, str) else None
        self.pattern_msg = f"Member must satisfy regular expression pattern: {pattern}"
        enum = shape.metadata.get("enum")
        self.enum = frozenset(enum) if enum else None
        listed = _AWS_ENUM_ORDER.get(shape.name, enum or ())
        if self.enum is not None and frozenset(listed) != self.enum:
            listed = enum  # the model has changed since that order was seen
        self.enum_msg = f"Member must satisfy enum value set: [{', '.join(listed or ())}]"

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if type(value) is not str and not isinstance(value, str):
            raise _scalar_type_error(value, "a String")
        size = len(value)
        if (
            size < self.min_len
            or size > self.max_len
            or (self.fullmatch is not None and self.fullmatch(value) is None)
            or (self.enum is not None and value not in self.enum)
        ):
            self.bounds.report(self, value, size, path, errors)
            if self.fullmatch is not None and self.fullmatch(value) is None:
                _report(errors, self, value, path, self.pattern_msg)
            if self.enum is not None and value not in self.enum:
                _report(errors, self, value, path, self.enum_msg)
        return value

    def checker(self) -> _Check:
        if self.fullmatch is not None or self.enum is not None:
            return self.check
        return self._check_length if self.bounds.bounded else self._check_type

    def _check_length(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if type(value) is not str and not isinstance(value, str):
            raise _scalar_type_error(value, "a String")
        size = len(value)
        if size < self.min_len or size > self.max_len:
            self.bounds.report(self, value, size, path, errors)
        return value

    def _check_type(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if type(value) is not str and not isinstance(value, str):
            raise _scalar_type_error(value, "a String")
        return value


def _base64_error(value: str) -> SerializationException:
    """Explain (slow path only) why a string is not strict, padded, canonical base64."""
    prefix = "STRING_VALUE can not be converted to a Blob: "
    data = value.rstrip("=")
    for ch in data:
        if ch not in _B64_INDEX:
            shown = ch if ch.isascii() and ch.isprintable() else f"\\u{ord(ch):04x}"
            return SerializationException(f"{prefix}Invalid Base64 character: '{shown}'")
    if len(value) % 4:
        return SerializationException(
            f"{prefix}Base64 encoded length is expected a multiple of 4 bytes but found: {len(value)}"
        )
    # Wording (including the misspelling) as AWS returns it for padding and trailing-bit problems.
    return SerializationException(f"{prefix}Invalid last non-pad Base64 character dectected")


class _BlobNode(_Node):
    __slots__ = ("bounds", "max_len", "min_len")

    def __init__(self, shape: botocore.model.Shape, sensitive: bool) -> None:
        super().__init__(sensitive)
        self.bounds = _LengthBounds(shape)
        self.min_len, self.max_len = self.bounds.min_len, self.bounds.max_len

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if type(value) is not str and not isinstance(value, str):
            raise _scalar_type_error(value, "a Blob")
        try:
            data = _a2b_base64(value, strict_mode=True)
        except ValueError:  # binascii.Error, or a non-ASCII str
            raise _base64_error(value) from None
        # strict_mode still accepts surplus padding ("QUJD==") and non-zero bits in the last character
        # ("QR=="); Coral rejects both. Only padded input can have either, and checking its final
        # quantum is a few character lookups.
        if value and value[-1] == "=" and not _canonical_tail(value):
            raise _base64_error(value)
        size = len(data)
        if size < self.min_len or size > self.max_len:
            self.bounds.report(self, data, size, path, errors)
        return data

    def show(self, value: Any) -> str:
        size = len(value)
        return f"java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]"


def _canonical_tail(value: str) -> bool:
    if len(value) & 3:
        return False
    if value[-2] == "=":  # one byte in the last quantum: 4 spare bits
        return value[-3] != "=" and _B64_INDEX[value[-3]] & 0x0F == 0
    return _B64_INDEX[value[-2]] & 0x03 == 0  # two bytes: 2 spare bits


class _IntegralNode(_Node):
    __slots__ = ("hi", "lo", "max_msg", "max_val", "min_msg", "min_val", "target")

    def __init__(self, shape: botocore.model.Shape, sensitive: bool) -> None:
        super().__init__(sensitive)
        self.lo, self.hi, self.target = _INTEGRAL_RANGES[shape.type_name]
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        self.min_val: int | float = lo if isinstance(lo, int | float) else -math.inf
        self.max_val: int | float = hi if isinstance(hi, int | float) else math.inf
        self.min_msg = f"Member must have value greater than or equal to {lo}"
        self.max_msg = f"Member must have value less than or equal to {hi}"

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        # `type(...) is int` also rejects bool, which Python makes a subclass of int.
        if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
            raise _scalar_type_error(value, self.target)
        if value < self.lo or value > self.hi:
            raise SerializationException(f"NUMBER_VALUE can not be converted to {self.target}")
        if value < self.min_val:
            _report(errors, self, value, path, self.min_msg)
        elif value > self.max_val:
            _report(errors, self, value, path, self.max_msg)
        return value


class _FloatNode(_Node):
    __slots__ = ("max_msg", "max_val", "min_msg", "min_val", "target")

    def __init__(self, shape: botocore.model.Shape, sensitive: bool) -> None:
        super().__init__(sensitive)
        self.target = "a Float" if shape.type_name == "float" else "a Double"
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        self.min_val: int | float = lo if isinstance(lo, int | float) else -math.inf
        self.max_val: int | float = hi if isinstance(hi, int | float) else math.inf
        self.min_msg = f"Member must have value greater than or equal to {lo}"
        self.max_msg = f"Member must have value less than or equal to {hi}"

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise _scalar_type_error(value, self.target)
        if value < self.min_val:
            _report(errors, self, value, path, self.min_msg)
        elif value > self.max_val:
            _report(errors, self, value, path, self.max_msg)
        return value


class _BooleanNode(_Node):
    __slots__ = ()

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if value is True or value is False:
            return value
        raise _scalar_type_error(value, "a Boolean")

    def show(self, value: Any) -> str:
        return "true" if value else "false"


class _TimestampNode(_Node):
    __slots__ = ()

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise _scalar_type_error(value, "milliseconds since epoch")
        return value


class _ListNode(_Node):
    __slots__ = ("bounds", "member", "string_lengths")

    def __init__(self, shape: botocore.model.Shape, sensitive: bool) -> None:
        super().__init__(sensitive)
        self.bounds = _LengthBounds(shape)
        self.member: _Node = _AnyNode(False)  # set by the compiler (lists can be recursive)
        #: (min, max) length when the members are strings constrained by their length only (GrantTokens), else None.
        self.string_lengths: tuple[int, int] | None = None

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if type(value) is not list and not isinstance(value, list):
            if isinstance(value, dict):
                raise SerializationException("Start of structure or map found where not expected.")
            raise SerializationException("Expected list or null")
        if self.string_lengths is not None:
            # Strings with nothing to convert: hand back the same list when every member is a string of a good
            # length; otherwise the general walk below reports what is wrong, as it would have.
            shortest, longest = self.string_lengths
            for item in value:
                if type(item) is not str or not shortest <= len(item) <= longest:
                    break
            else:
                result: list[Any] = value
                if self.bounds.bounded:
                    self._check_size(result, path, errors)
                return result
        check = self.member.checker()
        parent = path if isinstance(path, str) else _resolve(path)
        result = [
            check(item, (parent, index, "member"), errors)
            for index, item in enumerate(value, 1)
            if item is not None  # Coral drops null elements
        ]
        if self.bounds.bounded:
            self._check_size(result, path, errors)
        return result

    def _check_size(self, result: list[Any], path: _Path, errors: list[str]) -> None:
        size = len(result)
        if size < self.bounds.min_len or size > self.bounds.max_len:
            self.bounds.report(self, result, size, path, errors)

    def show(self, value: Any) -> str:
        return "[" + ", ".join(self.member.show(item) for item in value) + "]"


class _MapNode(_Node):
    __slots__ = ("bounds", "key", "passthrough", "value")

    def __init__(self, shape: botocore.model.Shape, sensitive: bool) -> None:
        super().__init__(sensitive)
        self.bounds = _LengthBounds(shape)
        self.key: _Node = _AnyNode(False)  # set by the compiler
        self.value: _Node = _AnyNode(False)
        self.passthrough = False

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if type(value) is not dict and not isinstance(value, dict):
            if isinstance(value, list):
                raise SerializationException("Start of list found where not expected")
            raise SerializationException("Expected map or null")
        if self.passthrough:
            # String-to-string maps without constraints (EncryptionContext): validate types only and
            # return the very same dict, saving a copy on the hottest path.
            for key, item in value.items():
                if type(item) is not str or type(key) is not str:
                    break
            else:
                if self.bounds.bounded:
                    self._check_size(value, path, errors)
                return value
        parent = path if isinstance(path, str) else _resolve(path)
        check_key, check_value = self.key.checker(), self.value.checker()
        result: dict[Any, Any] = {}
        for index, (key, item) in enumerate(value.items(), 1):
            converted_key = check_key(key, (parent, index, "key"), errors)
            if item is not None:  # a null value means the entry is absent
                result[converted_key] = check_value(item, (parent, index, "value"), errors)
        if self.bounds.bounded:
            self._check_size(result, path, errors)
        return result

    def _check_size(self, result: Mapping[Any, Any], path: _Path, errors: list[str]) -> None:
        size = len(result)
        if size < self.bounds.min_len or size > self.bounds.max_len:
            self.bounds.report(self, result, size, path, errors)

    def show(self, value: Any) -> str:
        entries = (f"{self.key.show(k)}={self.value.show(v)}" for k, v in value.items())
        return "{" + ", ".join(entries) + "}"


class _StructureNode(_Node):
    # members: (wire name, result name, path label, required, check, node), in model order
    __slots__ = ("members",)

    def __init__(self, sensitive: bool) -> None:
        super().__init__(sensitive)
        self.members: tuple[tuple[str, str, str, bool, _Check, _Node], ...] = ()  # set by the compiler

    def check(self, value: Any, path: _Path, errors: list[str]) -> Any:
        if type(value) is not dict and not isinstance(value, dict):
            if isinstance(value, list):
                raise SerializationException("Start of list found where not expected")
            raise SerializationException("Expected null")
        parent = path if isinstance(path, str) else _resolve(path)
        get = value.get
        result: dict[str, Any] = {}
        for wire, name, label, required, check, _ in self.members:
            item = get(wire)
            if item is None:
                if required:
                    errors.append(_null_violation(_child(parent, label)))
                continue
            result[name] = check(item, f"{parent}.{label}" if parent else label, errors)
        return result

    def show(self, value: Any) -> str:
        shown = (f"{name}={node.show(value[name])}" for _, name, _, _, _, node in self.members if name in value)
        return "{" + ", ".join(shown) + "}"


# --------------------------------------------------------------------------------------------------
# compiler
# --------------------------------------------------------------------------------------------------
_SCALAR_CONSTRAINTS: Final = ("min", "max", "pattern", "enum")
#: Shapes the model does not mark sensitive but whose values Trent never repeats: a grant token is a
#: bearer credential until its grant propagates, so it must not reach error messages, logs or audit records.
_ALSO_SENSITIVE: Final = frozenset({"GrantTokenType"})


class _Compiler:
    """Turns botocore shapes into nodes, sharing the node of a shape used by several operations."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[object, ...], _Node] = {}
        self._sensitive: dict[str, bool] = {}

    def _contains_sensitive(self, shape: botocore.model.Shape, visiting: frozenset[str] = frozenset()) -> bool:
        if shape.metadata.get("sensitive") or shape.name in _ALSO_SENSITIVE:
            return True
        if shape.name in visiting:
            return False
        cached = self._sensitive.get(shape.name)
        if cached is not None:
            return cached
        inner = visiting | {shape.name}
        if isinstance(shape, botocore.model.StructureShape):
            children: list[botocore.model.Shape] = list(shape.members.values())
        elif isinstance(shape, botocore.model.ListShape):
            children = [shape.member]
        elif isinstance(shape, botocore.model.MapShape):
            children = [shape.key, shape.value]
        else:
            children = []
        result = any(self._contains_sensitive(child, inner) for child in children)
        if not visiting:  # only cache results not truncated by a cycle
            self._sensitive[shape.name] = result
        return result

    def compile(self, shape: botocore.model.Shape) -> _Node:
        meta = shape.metadata
        sensitive = self._contains_sensitive(shape)
        # Member traits may override a shape's constraints, so they are part of the cache key.
        key = (shape.name, sensitive, *(repr(meta.get(k)) for k in _SCALAR_CONSTRAINTS))
        node = self._nodes.get(key)
        if node is not None:
            return node
        kind = shape.type_name
        if kind == "structure" and not meta.get("document"):
            assert isinstance(shape, botocore.model.StructureShape)
            struct = _StructureNode(sensitive)
            self._nodes[key] = struct  # registered before members so recursive shapes terminate
            required = set(meta.get("required", ()))
            members = []
            for name, member in shape.members.items():
                node = self.compile(member)
                wire = member.serialization.get("name", name)
                members.append((wire, name, _lower_first(name), name in required, node.checker(), node))
            struct.members = tuple(members)
            return struct
        if kind == "list":
            assert isinstance(shape, botocore.model.ListShape)
            lst = _ListNode(shape, sensitive)
            self._nodes[key] = lst
            lst.member = self.compile(shape.member)
            lst.string_lengths = _string_lengths(lst.member)
            return lst
        if kind == "map":
            assert isinstance(shape, botocore.model.MapShape)
            mp = _MapNode(shape, sensitive)
            self._nodes[key] = mp
            mp.key, mp.value = self.compile(shape.key), self.compile(shape.value)
            mp.passthrough = _is_plain_string(mp.key) and _is_plain_string(mp.value)
            return mp
        node = self._scalar(shape, sensitive)
        self._nodes[key] = node
        return node

    @staticmethod
    def _scalar(shape: botocore.model.Shape, sensitive: bool) -> _Node:
        kind = shape.type_name
        if kind == "string":
            return _StringNode(shape, sensitive)
        if kind == "blob":
            return _BlobNode(shape, sensitive)
        if kind in _INTEGRAL_RANGES:
            return _IntegralNode(shape, sensitive)
        if kind in ("float", "double"):
            return _FloatNode(shape, sensitive)
        if kind == "boolean":
            return _BooleanNode(sensitive)
        if kind == "timestamp":
            return _TimestampNode(sensitive)
        return _AnyNode(sensitive)


def _string_lengths(node: _Node) -> tuple[int, int] | None:
    """(min, max) length of a string constrained by its length only (or not at all); None for anything else."""
    if isinstance(node, _StringNode) and node.fullmatch is None and node.enum is None:
        return node.min_len, node.max_len
    return None


def _is_plain_string(node: _Node) -> bool:
    """A string without any constraint: a value needs nothing beyond its type check."""
    return (
        isinstance(node, _StringNode)
        and node.min_len == 0
        and node.max_len == sys.maxsize
        and node.fullmatch is None
        and node.enum is None
    )


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------
class RequestValidator:
    """Validates AWS JSON 1.1 request bodies against a botocore service model, the way AWS does.

    Every operation's input shape is compiled once, up front, into a tree of small node objects, so
    :meth:`validate` only walks the members actually present in the model.
    """

    def __init__(self, service_model: botocore.model.ServiceModel) -> None:
        """Compile the input shape of every operation in ``service_model``."""
        compiler = _Compiler()
        empty = _StructureNode(False)
        self._operations: dict[str, _Check] = {}
        for name in service_model.operation_names:
            input_shape = service_model.operation_model(name).input_shape
            root = empty if input_shape is None else compiler.compile(input_shape)
            self._operations[name] = root.checker()

    def has_operation(self, name: str) -> bool:
        """Whether ``name`` (e.g. ``"Encrypt"``) is an operation of the model."""
        return name in self._operations

    @property
    def operation_names(self) -> list[str]:
        """The operations this validator knows, in model order."""
        return list(self._operations)

    def validate(self, operation: str, body: object) -> dict[str, Any]:
        """Check ``body`` (parsed JSON) against ``operation``'s input shape and return its parameters.

        The result holds only the members the model defines (unknown members are dropped, as AWS
        ignores them), with blob members base64-decoded to ``bytes``; everything else is unchanged.
        Lists and maps that need no conversion are returned as the very objects found in ``body``.

        :raises UnknownOperationException: ``operation`` is not in the model.
        :raises SerializationException: ``body`` is not an object, or a member has the wrong JSON type
            or is not valid base64 where a blob is expected.
        :raises ValidationException: one or more constraints are violated; the message lists them all.
        """
        node = self._operations.get(operation)
        if node is None:
            raise UnknownOperationException(f"Operation {operation} is not supported.")
        errors = _Violations()
        result: dict[str, Any] = node({} if body is None else body, "", errors)
        if errors:
            count = errors.total
            noun = "error" if count == 1 else "errors"
            listed = "; ".join([*errors, f"and {count - len(errors)} more"] if count > len(errors) else errors)
            raise ValidationException(f"{count} validation {noun} detected: {listed}")
        limit_encryption_contexts(result)
        return result
