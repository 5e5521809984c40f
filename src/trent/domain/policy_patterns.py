"""Wildcards and policy variables of the AWS policy language.

A policy string such as ``arn:aws:kms:*:${aws:PrincipalAccount}:key/*`` is compiled once, when the policy is
parsed, into a `Template`. Templates without variables become a ready `Glob`; templates with variables are
rendered per request into a `Glob` of their own, which costs about what one match does and is never kept.

Wildcard semantics: ``*`` matches any run of characters (including none, and including ``:`` and ``/``), ``?``
matches exactly one character. A variable's value is always literal text: a user named ``a*`` does not get a
wildcard. ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters, as in AWS.

Matching uses no regular expressions: a hostile pattern like ``*a*a*a*a*b``, or ``*`` followed by 30,000 ``a``
and a ``b`` against a megabyte of ``a``, makes a backtracking engine run for seconds to hours. A `Glob` is the
pieces between its stars; the value must start with the first, end with the last, and hold the others in order,
and the leftmost place of each fixed-length piece is always the best one. So one match is a few `str.startswith`,
`str.endswith` and `str.find` calls, linear in the value for pieces without ``?``. Pieces with ``?`` are searched
by their longest literal run and verified; the characters compared are counted, and a match that would compare
more than `MATCH_BUDGET` raises `MatchTooCostly`, which the evaluator turns into the safer answer.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

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


#: Characters the wildcard matches of one decision may compare before giving up (~10 ms of C string comparison).
MATCH_BUDGET = 10_000_000


class MatchTooCostly(Exception):
    """The wildcard matches of a decision would compare more than `MATCH_BUDGET` characters: the answer is not
    known, and the evaluator gives the safer one."""


#: What the current decision may still spend (see `spending_limit`); None outside a decision: each match alone.
_remaining: ContextVar[list[int] | None] = ContextVar("trent_match_budget", default=None)


@contextmanager
def spending_limit(characters: int = MATCH_BUDGET) -> Iterator[None]:
    """Give the wildcard matches made inside the block one budget together (one decision's)."""
    token = _remaining.set([characters])
    try:
        yield
    finally:
        _remaining.reset(token)


def _charge(characters: int, local: list[int]) -> None:
    budget = _remaining.get()
    if budget is None:
        budget = local
    budget[0] -= characters
    if budget[0] < 0:
        raise MatchTooCostly


class _Piece:
    """The tokens between two stars: fixed length, literal runs at fixed offsets (``?`` matches any character)."""

    __slots__ = ("anchor", "length", "literal", "runs")

    def __init__(self, tokens: Sequence[Token]) -> None:
        runs: list[tuple[int, str]] = []
        offset = 0
        for kind, text in tokens:
            if kind == _ONE:
                offset += 1
            elif runs and runs[-1][0] + len(runs[-1][1]) == offset:
                runs[-1] = (runs[-1][0], runs[-1][1] + text)
                offset += len(text)
            else:
                runs.append((offset, text))
                offset += len(text)
        self.length = offset
        self.runs = tuple(runs)
        #: The longest literal run: what a search looks for before checking the rest.
        self.anchor = max(runs, key=lambda run: len(run[1])) if runs else None
        #: No ``?``: the piece is its one literal run (or empty).
        self.literal = (
            not runs if offset == 0 else (len(runs) == 1 and runs[0] == (0, runs[0][1]) and len(runs[0][1]) == offset)
        )

    def at(self, value: str, position: int) -> bool:
        return all(value.startswith(text, position + offset) for offset, text in self.runs)

    def find(self, value: str, start: int, end: int, budget: list[int]) -> int:
        """The leftmost position in [start, end - length] where the piece matches, or -1."""
        last = end - self.length
        if last < start:
            return -1
        anchor = self.anchor
        if anchor is None:  # only ``?``: any position will do
            return start
        offset, text = anchor
        if len(self.runs) == 1:  # no ``?`` between literals: one search
            found = value.find(text, start + offset, last + offset + len(text))
            return found - offset if found >= 0 else -1
        search = start + offset
        while True:
            found = value.find(text, search, last + offset + len(text))
            if found < 0:
                return -1
            _charge(self.length, budget)
            if self.at(value, found - offset):
                return found - offset
            search = found + 1


class Glob:
    """One wildcard pattern, ready to match (see the module docstring). `matches(value)` is chosen when the
    pattern is compiled: the common shapes (``prefix*``, ``*suffix``, ``prefix*suffix`` without ``?``) are one
    or two C string calls."""

    __slots__ = ("_head", "_middles", "_minimum", "_tail", "matches")

    def __init__(self, tokens: Sequence[Token]) -> None:
        pieces: list[list[Token]] = [[]]
        for token in tokens:
            if token[0] == _STAR:
                pieces.append([])
            else:
                pieces[-1].append(token)
        exact = len(pieces) == 1
        self._head = _Piece(pieces[0])
        self._tail = _Piece(pieces[-1] if not exact else [])
        self._middles = tuple(_Piece(piece) for piece in pieces[1:-1] if piece)
        self._minimum = self._head.length + sum(p.length for p in self._middles) + self._tail.length
        literal = all(piece.literal for piece in (self._head, self._tail, *self._middles))
        head = self._head.runs[0][1] if self._head.runs else ""
        tail = self._tail.runs[0][1] if self._tail.runs else ""
        minimum = self._minimum
        self.matches: Callable[[str], bool]
        if exact:
            self.matches = self._exact
        elif literal and not self._middles:
            if not tail:
                self.matches = lambda value: value.startswith(head)
            elif not head:
                self.matches = lambda value: value.endswith(tail)
            else:
                self.matches = lambda value: len(value) >= minimum and value.startswith(head) and value.endswith(tail)
        else:
            self.matches = self._general

    def _exact(self, value: str) -> bool:
        return len(value) == self._head.length and self._head.at(value, 0)

    def _general(self, value: str) -> bool:
        """Whether the pattern matches all of `value`. :raises MatchTooCostly: see `MATCH_BUDGET`."""
        head = self._head
        if len(value) < self._minimum or not head.at(value, 0):
            return False
        tail = self._tail
        end = len(value) - tail.length
        if not tail.at(value, end):
            return False
        position = head.length
        budget = [MATCH_BUDGET]
        _charge(len(value), budget)  # what the searches below scan at most, pieces with ``?`` aside
        for piece in self._middles:
            found = piece.find(value, position, end, budget)
            if found < 0:
                return False
            position = found + piece.length
        return True


def glob(pattern: str) -> Glob:
    """The `Glob` of a plain wildcard pattern (no policy variables)."""
    return Glob(_tokenize_pattern(pattern))


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

    Static patterns become a set lookup (no wildcard), "match everything" (a bare ``*``) or a `Glob`; patterns
    with variables are rendered per request.
    """

    __slots__ = ("__weakref__", "_dynamic", "_exact", "_fold", "_globs", "_match_all")

    @classmethod
    def of(cls, patterns: Sequence[str], *, ignore_case: bool = False, variables: bool = True) -> PatternSet:
        """The pattern set of these pattern texts, shared with every other live policy that wrote the same list.

        Policies repeat themselves (the same Action list, the same Resource in every user's policy), and a pattern
        set is immutable, so one object serves them all: a parsed identity policy then costs its statements, not
        its patterns again (docs/performance.md, "How cost grows").
        """
        intern_key = (tuple(patterns), ignore_case, variables)
        shared = _INTERNED.get(intern_key)
        if shared is None:
            shared = cls((parse_template(text, variables=variables) for text in patterns), ignore_case=ignore_case)
            _INTERNED[intern_key] = shared
        return shared

    def __init__(self, templates: Iterable[Template], *, ignore_case: bool = False) -> None:
        self._fold = ignore_case
        exact: set[str] = set()
        globs: list[Glob] = []
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
                globs.append(Glob(self._folded(tokens)))
        self._match_all = match_all
        self._exact = frozenset(exact)
        self._globs = tuple(globs)
        self._dynamic = tuple(dynamic)

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
        """Whether any pattern matches all of `value`; `lookup` supplies policy variables.

        :raises MatchTooCostly: see `MATCH_BUDGET`.
        """
        if self._match_all:
            return True
        if self._fold:
            value = value.casefold()
        if value in self._exact:
            return True
        for pattern in self._globs:
            if pattern.matches(value):
                return True
        for template in self._dynamic:
            tokens = template.tokens(lookup)
            # A variable without a value: this pattern matches nothing.
            if tokens is not None and Glob(self._folded(tokens)).matches(value):
                return True
        return False


#: Live pattern sets by (texts, ignore_case, variables): an entry lasts as long as a policy holds its set.
_INTERNED: weakref.WeakValueDictionary[tuple[tuple[str, ...], bool, bool], PatternSet] = weakref.WeakValueDictionary()


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
