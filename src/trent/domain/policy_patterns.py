"""Wildcards and policy variables of the AWS policy language.

A policy string such as ``arn:aws:kms:*:${aws:PrincipalAccount}:key/*`` is compiled once, when the policy is
parsed, into a `Template`. Templates without variables compile to a ready regular expression; templates with
variables are rendered per request and their expressions are cached.

Wildcard semantics: ``*`` matches any run of characters (including none, and including ``:`` and ``/``), ``?``
matches exactly one character. A variable's value is always literal text: a user named ``a*`` does not get a
wildcard. ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters, as in AWS.

Translating a glob naively to ``.*`` lets a hostile pattern like ``*a*a*a*a*b`` backtrack exponentially. The
translation here makes every middle ``*`` segment an atomic group: the leftmost placement of a fixed-length
piece is always the best one, so backtracking into it can never help, and matching is O(len(value) x len(pattern)).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: Looks up a policy variable by its lower-cased name; None when the request has no value for it.
VariableLookup = Callable[[str], str | None]

# Token kinds of a rendered pattern.
_TEXT, _STAR, _ONE = 0, 1, 2
Token = tuple[int, str]
_STAR_TOKEN: Token = (_STAR, "*")
_ONE_TOKEN: Token = (_ONE, "?")

# Segment kinds of a template.
_PATTERN, _LITERAL, _VARIABLE = 0, 1, 2

_VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY_RE = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}
_RENDERED_LIMIT = 256


@dataclass(frozen=True, slots=True)
class _Segment:
    kind: int  # _PATTERN (wildcards active), _LITERAL (escaped character) or _VARIABLE
    text: str  # pattern text, the literal, or the lower-cased variable name
    default: str | None = None  # a variable's default: ${aws:username, 'nobody'}


def _tokenize_pattern(text: str) -> list[Token]:
    tokens: list[Token] = []
    start = 0
    for i, char in enumerate(text):
        if char in "*?":
            if i > start:
                tokens.append((_TEXT, text[start:i]))
            tokens.append(_STAR_TOKEN if char == "*" else _ONE_TOKEN)
            start = i + 1
    if start < len(text):
        tokens.append((_TEXT, text[start:]))
    return tokens


def _piece_regex(tokens: Iterable[Token]) -> str:
    return "".join("." if kind == _ONE else re.escape(text) for kind, text in tokens)


def tokens_to_regex(tokens: Sequence[Token]) -> str:
    """The regular expression (for `re.fullmatch`) of a token list, with atomic middle segments."""
    pieces: list[list[Token]] = [[]]
    for token in tokens:
        if token[0] == _STAR:
            pieces.append([])
        else:
            pieces[-1].append(token)
    if len(pieces) == 1:
        return _piece_regex(pieces[0])
    parts = [_piece_regex(pieces[0])]
    for middle in pieces[1:-1]:
        if middle:  # consecutive stars leave empty pieces; they add nothing
            parts.append(f"(?>.*?{_piece_regex(middle)})")
    parts.append(".*" + _piece_regex(pieces[-1]))
    return "".join(parts)


def glob_to_regex(pattern: str) -> str:
    """The regular expression (for `re.fullmatch` with DOTALL) of a plain wildcard pattern."""
    return tokens_to_regex(_tokenize_pattern(pattern))


@lru_cache(maxsize=4096)
def compile_regex(source: str, flags: int = re.DOTALL) -> re.Pattern[str]:
    """Compile (and remember) the expression of a rendered pattern; rendering with variables happens per request."""
    return re.compile(source, flags)


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string, possibly holding policy variables; compiled once at parse time."""

    source: str
    segments: tuple[_Segment, ...]

    @property
    def has_variables(self) -> bool:
        """Whether rendering needs the request's policy variables."""
        return any(segment.kind == _VARIABLE for segment in self.segments)

    @property
    def variable_names(self) -> frozenset[str]:
        """The lower-cased names of the policy variables the text names."""
        return frozenset(segment.text for segment in self.segments if segment.kind == _VARIABLE)

    def literal(self, lookup: VariableLookup | None = None) -> str | None:
        """The text with wildcards taken literally and variables substituted; None if a variable has no value."""
        out: list[str] = []
        for segment in self.segments:
            if segment.kind == _VARIABLE:
                value = _resolve(segment, lookup)
                if value is None:
                    return None
                out.append(value)
            else:
                out.append(segment.text)
        return "".join(out)

    def variable_values(self, lookup: VariableLookup | None) -> tuple[str, ...] | None:
        """The values of the template's variables, in order; None if one has no value (and no default)."""
        values: list[str] = []
        for segment in self.segments:
            if segment.kind == _VARIABLE:
                value = _resolve(segment, lookup)
                if value is None:
                    return None
                values.append(value)
        return tuple(values)

    def tokens(self, lookup: VariableLookup | None = None) -> list[Token] | None:
        """Wildcard tokens with variables substituted (as literal text); None if a variable has no value."""
        out: list[Token] = []
        for segment in self.segments:
            if segment.kind == _PATTERN:
                out.extend(_tokenize_pattern(segment.text))
            elif segment.kind == _LITERAL:
                out.append((_TEXT, segment.text))
            else:
                value = _resolve(segment, lookup)
                if value is None:
                    return None
                out.append((_TEXT, value))
        return out


def _resolve(segment: _Segment, lookup: VariableLookup | None) -> str | None:
    value = lookup(segment.text) if lookup is not None else None
    return segment.default if value is None else value


def parse_template(text: str, *, variables: bool) -> Template:
    """Compile `text`. With `variables` False (policy Version 2008-10-17) ``${...}`` is ordinary text, as in AWS."""
    if not variables or "${" not in text:
        return Template(text, (_Segment(_PATTERN, text),) if text else ())
    segments: list[_Segment] = []
    position = 0
    for found in _VARIABLE_RE.finditer(text):
        body = found.group(1)
        if body in _ESCAPES:
            segment = _Segment(_LITERAL, _ESCAPES[body])
        else:
            parsed = _VARIABLE_BODY_RE.fullmatch(body)
            if parsed is None:  # not a variable reference: leave it as written
                continue
            segment = _Segment(_VARIABLE, parsed.group(1).lower(), parsed.group(2))
        if found.start() > position:
            segments.append(_Segment(_PATTERN, text[position : found.start()]))
        segments.append(segment)
        position = found.end()
    if position < len(text):
        segments.append(_Segment(_PATTERN, text[position:]))
    return Template(text, tuple(segments))


class PatternSet:
    """A list of wildcard patterns (an Action, Resource or StringLike value list): matches when any pattern does.

    Static patterns become one combined expression (or a set lookup, or "match everything"); patterns with
    variables are rendered per request.
    """

    __slots__ = ("_dynamic", "_exact", "_fold", "_match_all", "_regex", "_rendered")

    def __init__(self, templates: Iterable[Template], *, ignore_case: bool = False) -> None:
        self._fold = ignore_case
        exact: set[str] = set()
        wild: list[str] = []
        dynamic: list[Template] = []
        match_all = False
        for template in templates:
            if template.has_variables:
                dynamic.append(template)
                continue
            tokens = template.tokens()
            assert tokens is not None  # no variables, so nothing can be missing
            if tokens == [_STAR_TOKEN]:
                match_all = True
            elif all(kind == _TEXT for kind, _ in tokens):
                text = "".join(t for _, t in tokens)
                exact.add(text.casefold() if ignore_case else text)
            else:
                wild.append(tokens_to_regex(self._folded(tokens)))
        self._match_all = match_all
        self._exact = frozenset(exact)
        self._regex = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL) if wild else None
        self._dynamic = tuple(dynamic)
        # (template index, variable values) -> expression: the same callers come back with the same variables.
        self._rendered: dict[tuple[int, tuple[str, ...]], re.Pattern[str]] = {}

    def _folded(self, tokens: list[Token]) -> list[Token]:
        return [(kind, text.casefold()) for kind, text in tokens] if self._fold else tokens

    @property
    def has_variables(self) -> bool:
        """Whether a pattern names a policy variable (its meaning then depends on the request)."""
        return bool(self._dynamic)

    @property
    def matches_everything(self) -> bool:
        """Whether one of the patterns is a bare ``*``."""
        return self._match_all

    def matches(self, value: str, lookup: VariableLookup | None = None) -> bool:
        """Whether any pattern matches all of `value`; `lookup` supplies policy variables."""
        if self._match_all:
            return True
        if self._fold:
            value = value.casefold()
        if value in self._exact:
            return True
        if self._regex is not None and self._regex.fullmatch(value) is not None:
            return True
        for position, template in enumerate(self._dynamic):
            regex = self._render(position, template, lookup)
            if regex is not None and regex.fullmatch(value) is not None:
                return True
        return False

    def _render(self, position: int, template: Template, lookup: VariableLookup | None) -> re.Pattern[str] | None:
        values = template.variable_values(lookup)
        if values is None:
            return None  # a variable without a value: this pattern matches nothing
        regex = self._rendered.get((position, values))
        if regex is None:
            tokens = template.tokens(lookup)
            assert tokens is not None
            regex = compile_regex(tokens_to_regex(self._folded(tokens)))
            if len(self._rendered) >= _RENDERED_LIMIT:
                self._rendered.clear()  # bounded: many distinct callers simply recompute
            self._rendered[(position, values)] = regex
        return regex


def split_tokens(tokens: Sequence[Token], separator: str, maxsplit: int) -> list[list[Token]]:
    """Split a token list at `separator` characters inside text tokens, at most `maxsplit` times."""
    parts: list[list[Token]] = [[]]
    for kind, text in tokens:
        if kind != _TEXT:
            parts[-1].append((kind, text))
            continue
        while separator in text and len(parts) <= maxsplit:
            head, text = text.split(separator, 1)
            if head:
                parts[-1].append((_TEXT, head))
            parts.append([])
        if text:
            parts[-1].append((_TEXT, text))
    return parts
