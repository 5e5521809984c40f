"""The AWS Query protocol (IAM, STS) driven by botocore's service model: form parameters in, XML out.

A Query request is a flat form, ``Action=CreateUser&Version=2010-05-08&UserName=alice&Tags.member.1.Key=team``,
whose names spell a path through the operation's input shape. :func:`parse_request` turns it back into the
nested dict boto3 was given, reading the names exactly as botocore's ``QuerySerializer`` writes them:

* a structure member is ``Prefix.Name`` (``Name`` is the member's ``locationName`` when the model gives one);
* a list is ``Prefix.member.N`` with N counted from 1 (``member`` is the list member's ``locationName`` if any).
  A flattened list drops the ``.member``, and if its member has a ``locationName`` that name *replaces* the
  list's own name: ``Prefix.Item.N``. An empty list is sent as ``Prefix=`` with an empty value;
* a map is ``Prefix.entry.N.key`` / ``Prefix.entry.N.value`` (``entry`` dropped when flattened, ``key`` and
  ``value`` renamed by the model's ``locationName`` if any). An empty map is not sent at all;
* integers and longs are decimal within Java's ``int``/``long`` range, booleans ``true``/``false``, floats
  and doubles decimal (or ``NaN``/``Infinity``/``-Infinity``), blobs standard base64 returned as ``bytes``,
  and timestamps ISO 8601 returned as timezone-aware :class:`~datetime.datetime` objects in UTC (a timestamp
  without an offset is taken to be UTC). Strings are returned as sent.

Parameters the shape does not know are ignored. A value that does not parse as its type raises
:class:`QueryFormatError`, which names the offending parameter as it was sent (``Tags.member.2.Key``).

Hostile forms are cheap to refuse. Parsing walks the form's names segment by segment *guided by the shape*,
splitting only the names under members the shape knows, so unknown parameters cost next to nothing, work and
memory stay proportional to the size of the form, and recursion never goes deeper than the shape does. List and
map indices must be exactly ``1`` to ``N`` where N is how many indices were sent: nothing is ever allocated
according to an index's value, so ``Tags.member.1000000000.Key`` is refused at once.

:func:`serialize_response` and :func:`serialize_error` write the XML AWS answers with, which botocore's
``QueryParser`` reads back. Every piece of text is escaped; a carriage return is written as ``&#13;`` so that
XML line-end normalization cannot turn it into a line feed, and a character XML 1.0 cannot carry at all
(``\\x00`` and friends) is replaced by U+FFFD so that one odd stored string cannot make a whole listing
unparsable.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, cast
from xml.sax.saxutils import escape, quoteattr

import botocore.model

__all__ = ["QueryFormatError", "parse_request", "serialize_error", "serialize_response"]


class QueryFormatError(ValueError):
    """A request parameter whose value is not of its member's type, or list indices that are not 1 to N.

    ``member_path`` is the parameter as it was sent (``Tags.member.2.Key``; for a bad index, the path up to and
    including that index), ``value`` what it held (``None`` when a list or map element is missing its value),
    and ``expected_type`` the model's type name (``integer``, ``boolean``, ...) or ``list index``.
    """

    def __init__(self, member_path: str, value: str | None, expected_type: str) -> None:
        super().__init__(f"Value {value!r} at {member_path!r} is not a valid {expected_type}")
        self.member_path = member_path
        self.value = value
        self.expected_type = expected_type


# --- requests -----------------------------------------------------------------------------------------------------


class _Absent:
    """Nothing of a member was sent (distinct from ``None``, an empty string or an empty list)."""


_ABSENT: Final = _Absent()


class _Node:
    """The form parameters under one name prefix: ``Tags.member.1.Key`` is reached through four nested nodes.

    A node holds the value sent under its own name, if any (``Tags=`` next to ``Tags.member.1.Key=team``), and
    splits the longer names into children by their next segment only when asked for its children. Parsing only
    asks for the children of names the shape knows, so a name the shape does not know is never split: splitting
    every name up front would turn a megabyte of dots into a million objects.
    """

    __slots__ = ("_children", "_unsplit", "value")

    def __init__(self, parameters: Iterable[tuple[str, str]] = ()) -> None:
        self.value: str | None = None
        self._unsplit = list(parameters)  # (name below this node, value)
        self._children: dict[str, _Node] | None = None

    @property
    def children(self) -> dict[str, _Node]:
        if self._children is None:
            self._children = {}
            for name, value in self._unsplit:
                segment, dot, rest = name.partition(".")
                child = self._children.get(segment)
                if child is None:
                    child = self._children[segment] = _Node()
                if dot:
                    child._unsplit.append((rest, value))
                else:
                    child.value = value
            self._unsplit = []
        return self._children


def parse_request(operation_model: botocore.model.OperationModel, form: Mapping[str, str]) -> dict[str, Any]:
    """The input dict boto3 was given for ``operation_model``, rebuilt from the request's form parameters.

    ``form`` is the URL-decoded form (one value per name). ``Action``, ``Version`` and any other parameter the
    input shape does not know are ignored. Raises :class:`QueryFormatError` for a value that is not of its
    member's type and for list or map indices that are not exactly 1 to N. No other validation is done: required
    members, lengths, ranges, enums and patterns are the caller's business.
    """
    shape = operation_model.input_shape
    if shape is None:
        return {}
    parsed = _parse_structure(shape, _Node(form.items()), path="")
    return {} if isinstance(parsed, _Absent) else parsed


def _join(path: str, segment: str) -> str:
    return f"{path}.{segment}" if path else segment


def _parse(shape: botocore.model.Shape, parent: _Node, segment: str, parent_path: str) -> Any:
    """The value of ``shape`` sent under ``parent``'s child ``segment``, or ``_ABSENT``.

    Values are located by their parent and their own segment rather than by their own node because a flattened
    list with a named member lives beside its own segment, not under it (see :func:`_parse_list`).
    """
    if shape.type_name == "list":
        return _parse_list(shape, parent, segment, parent_path)
    node = parent.children.get(segment)
    if node is None:
        return _ABSENT
    path = _join(parent_path, segment)
    if shape.type_name == "structure":
        return _parse_structure(shape, node, path)
    if shape.type_name == "map":
        return _parse_map(shape, node, path)
    if node.value is None:
        # Only longer names start here (``UserName.Extra=1``): parameters the shape does not know.
        return _ABSENT
    return _parse_scalar(shape, node.value, path)


def _parse_structure(shape: botocore.model.StructureShape, node: _Node, path: str) -> dict[str, Any] | _Absent:
    parsed: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = _parse(member, node, member.serialization.get("name", name), path)
        if not isinstance(value, _Absent):
            parsed[name] = value
    # botocore sends nothing at all for an empty structure, so a structure with no known member was not sent.
    return parsed or _ABSENT


def _parse_list(shape: botocore.model.ListShape, parent: _Node, segment: str, parent_path: str) -> Any:
    own = parent.children.get(segment)
    path = _join(parent_path, segment)
    if not shape.serialization.get("flattened"):
        item_name = shape.member.serialization.get("name", "member")
        items = own.children.get(item_name) if own is not None else None
        items_path = _join(path, item_name)
    elif "name" in shape.member.serialization:
        # botocore replaces the list's own name with its member's: ``Prefix.Items`` becomes ``Prefix.Item.N``.
        items_path = _join(parent_path, shape.member.serialization["name"])
        items = parent.children.get(shape.member.serialization["name"])
    else:
        items, items_path = own, path
    if items is not None and items.children:
        return [_parse_element(shape.member, items, str(index), items_path) for index in _indices(items, items_path)]
    if own is None or own.value is None:
        return _ABSENT
    if own.value == "":
        # An empty list is sent as its own name with an empty value, under the list's own name even when flattened.
        return []
    raise QueryFormatError(path, own.value, "list")


def _parse_map(shape: botocore.model.MapShape, node: _Node, path: str) -> dict[Any, Any] | _Absent:
    entries: _Node | None
    if shape.serialization.get("flattened"):
        entries, entries_path = node, path
    else:
        entries, entries_path = node.children.get("entry"), _join(path, "entry")
    if entries is None or not entries.children:
        return _ABSENT
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    parsed: dict[Any, Any] = {}
    for index in _indices(entries, entries_path):
        entry, entry_path = entries.children[str(index)], _join(entries_path, str(index))
        key = _parse_element(shape.key, entry, key_name, entry_path)
        parsed[key] = _parse_element(shape.value, entry, value_name, entry_path)
    return parsed


def _parse_element(shape: botocore.model.Shape, parent: _Node, segment: str, parent_path: str) -> Any:
    """A list element or a map key or value: unlike a structure member, it cannot be left out."""
    value = _parse(shape, parent, segment, parent_path)
    if not isinstance(value, _Absent):
        return value
    # botocore sends nothing for an empty structure or map, so an element that is one of those may look missing.
    if shape.type_name in ("structure", "map"):
        return {}
    raise QueryFormatError(_join(parent_path, segment), None, shape.type_name)


def _indices(container: _Node, path: str) -> range:
    """1 to N, after checking that the N children of ``container`` are named exactly that (no gaps, no zero,
    no leading zeros). Only the indices actually sent are looked at, so a huge index costs nothing."""
    expected = range(1, len(container.children) + 1)
    for name in container.children:
        if not _is_index_in(name, expected):
            raise QueryFormatError(_join(path, name), name, "list index")
    return expected


def _is_index_in(name: str, expected: range) -> bool:
    # Comparing lengths first keeps int() away from a name of a million digits.
    return (
        0 < len(name) <= len(str(expected.stop))
        and name.isascii()
        and name.isdigit()
        and name[0] != "0"
        and int(name) in expected
    )


_INTEGER: Final = re.compile(r"[+-]?[0-9]{1,32}")
_FLOAT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]?Infinity")
_INTEGER_BITS: Final = {"integer": 32, "long": 64}


def _parse_scalar(shape: botocore.model.Shape, text: str, path: str) -> Any:
    parse = _SCALAR_PARSERS.get(shape.type_name)
    if parse is None:
        return text  # string, character: as sent
    try:
        return parse(shape, text)
    except (ValueError, OverflowError):
        raise QueryFormatError(path, text, shape.type_name) from None


def _parse_integer(shape: botocore.model.Shape, text: str) -> int:
    # A regular expression rather than int() alone, which would also take " 7", "1_000" and non-ASCII digits.
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    value = int(text)
    bits = _INTEGER_BITS[shape.type_name]
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise ValueError(text)
    return value


def _parse_float(shape: botocore.model.Shape, text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise ValueError(text)
    return float(text)


def _parse_boolean(shape: botocore.model.Shape, text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(text)
    return text == "true"


def _parse_timestamp(shape: botocore.model.Shape, text: str) -> datetime:
    # Every Query model leaves timestamps at the protocol's default format, ISO 8601.
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_blob(shape: botocore.model.Shape, text: str) -> bytes:
    return base64.b64decode(text, validate=True)  # binascii.Error is a ValueError


_SCALAR_PARSERS: Final[dict[str, Callable[[botocore.model.Shape, str], Any]]] = {
    "integer": _parse_integer,
    "long": _parse_integer,
    "float": _parse_float,
    "double": _parse_float,
    "boolean": _parse_boolean,
    "timestamp": _parse_timestamp,
    "blob": _parse_blob,
}


# --- responses ----------------------------------------------------------------------------------------------------


def serialize_response(
    operation_model: botocore.model.OperationModel, result: Mapping[str, Any], request_id: str
) -> bytes:
    """The XML body of a successful response carrying ``result``, the output dict boto3 would return.

    Members are written in the output shape's order; members absent from ``result`` or ``None`` are left out,
    as are members the shape does not know. An operation without an output shape gets no result element. One whose
    output shape has no members still gets an empty one, because botocore's parser requires the shape's
    ``resultWrapper`` element whenever there is a shape.

    Python types are checked rather than converted, to catch a handler bug before it reaches the wire: strings must
    be ``str``, integers ``int``, booleans ``bool``, blobs ``bytes``, timestamps a :class:`~datetime.datetime`
    (naive means UTC) or epoch seconds. Timestamps are written in UTC to the second (``2026-12-07T10:15:00Z``),
    as AWS writes them; fractions of a second are dropped. Raises :class:`TypeError` for a value of the wrong type.
    """
    name = operation_model.name
    shape = operation_model.output_shape
    namespace = operation_model.metadata["xmlNamespace"]
    body = ""
    if shape is not None:
        body = _structure_content(shape, result)
        wrapper = shape.serialization.get("resultWrapper")
        if wrapper:
            body = _element(wrapper, body)
    metadata = _element("ResponseMetadata", _element("RequestId", _text(request_id)))
    return f"<{name}Response xmlns={quoteattr(namespace)}>{body}{metadata}</{name}Response>".encode()


def serialize_error(namespace: str, code: str, message: str | None, request_id: str, *, sender: bool = True) -> bytes:
    """The XML body of an error response: ``Sender`` errors are the caller's fault, ``Receiver`` ones the service's.

    ``Message`` is left out when ``message`` is ``None``.
    """
    error = _element("Type", "Sender" if sender else "Receiver") + _element("Code", _text(code))
    if message is not None:
        error += _element("Message", _text(message))
    body = _element("Error", error) + _element("RequestId", _text(request_id))
    return f"<ErrorResponse xmlns={quoteattr(namespace)}>{body}</ErrorResponse>".encode()


def _element(tag: str, content: str) -> str:
    # Tags come from the service model only, never from a request or a result.
    return f"<{tag}>{content}</{tag}>"


_NOT_XML_CHARACTER: Final = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return escape(_NOT_XML_CHARACTER.sub("\ufffd", value), {"\r": "&#13;"})


def _structure_content(shape: botocore.model.StructureShape, value: Mapping[str, Any]) -> str:
    _require(shape, value, Mapping)
    return "".join(
        _member_xml(member, _member_tag(member, name), value[name])
        for name, member in shape.members.items()
        if value.get(name) is not None
    )


def _member_tag(member: botocore.model.Shape, name: str) -> str:
    """The element a structure member is written as, as botocore's parser looks it up (``_member_key_name``)."""
    if member.type_name == "list" and member.serialization.get("flattened") and "name" in member.member.serialization:
        return str(member.member.serialization["name"])
    return str(member.serialization.get("name", name))


def _member_xml(shape: botocore.model.Shape, tag: str, value: Any) -> str:
    """A structure member: one element, or one per item for a flattened list or map."""
    if not shape.serialization.get("flattened"):
        return _element(tag, _content(shape, value))
    if shape.type_name == "list":
        return "".join(_element(tag, _content(shape.member, item)) for item in _items(shape, value))
    return "".join(_element(tag, _map_entry(shape, key, item)) for key, item in _entries(shape, value))


def _content(shape: botocore.model.Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "structure":
        return _structure_content(shape, value)
    if kind == "list":
        item_tag = shape.member.serialization.get("name", "member")
        return "".join(_element(item_tag, _content(shape.member, item)) for item in _items(shape, value))
    if kind == "map":
        return "".join(_element("entry", _map_entry(shape, key, item)) for key, item in _entries(shape, value))
    return _text(_scalar_text(shape, value))


def _map_entry(shape: botocore.model.MapShape, key: Any, value: Any) -> str:
    key_tag = shape.key.serialization.get("name", "key")
    value_tag = shape.value.serialization.get("name", "value")
    return _element(key_tag, _content(shape.key, key)) + _element(value_tag, _content(shape.value, value))


def _items(shape: botocore.model.ListShape, value: Any) -> Iterable[Any]:
    # A str or a dict is iterable too, and would be written as a list of its characters or keys.
    _require(shape, value, list, tuple)
    return cast(Iterable[Any], value)


def _entries(shape: botocore.model.MapShape, value: Any) -> Iterable[tuple[Any, Any]]:
    _require(shape, value, Mapping)
    return cast(Mapping[Any, Any], value).items()


def _scalar_text(shape: botocore.model.Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        _require(shape, value, bool)
        return "true" if value else "false"
    if kind in ("integer", "long"):
        _require(shape, value, int)
        return str(value)
    if kind in ("float", "double"):
        _require(shape, value, int, float)
        return _float_text(float(value))
    if kind == "timestamp":
        _require(shape, value, datetime, int, float)
        return _iso8601(value)
    if kind == "blob":
        _require(shape, value, bytes)
        return base64.b64encode(value).decode("ascii")
    _require(shape, value, str)
    return str(value)


def _require(shape: botocore.model.Shape, value: Any, *types: type) -> None:
    # bool is an int to Python, never to the wire.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        expected = " or ".join(t.__name__ for t in types)
        raise TypeError(f"{shape.name} ({shape.type_name}) must be {expected}, not {type(value).__name__}")


def _float_text(value: float) -> str:
    # The spellings botocore sends and Java prints; repr() would give "nan" and "inf".
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _iso8601(value: datetime | float) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(value, UTC)
    # isoformat() rather than strftime("%Y"), which does not pad years before 1000 to four digits on every libc.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
