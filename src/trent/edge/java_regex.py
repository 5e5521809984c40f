"""The botocore model's `pattern` constraints are Java regular expressions: this module rewrites the Java-only parts
for Python's `re`, and gives up (the constraint is then not enforced) where Python cannot say the same thing."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Final

# POSIX classes as Java defines them (US-ASCII only unless UNICODE_CHARACTER_CLASS is set).
_POSIX_CLASSES: Final = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
    "Graph": "\\x21-\\x7e",
    "Print": "\\x20-\\x7e",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
# Java's '.' excludes every line terminator, not only '\n'.
_JAVA_DOT: Final = "[^\\n\\r\\x85\\u2028\\u2029]"
_JAVA_HSPACE: Final = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_JAVA_VSPACE: Final = "\\n\\x0b\\f\\r\\x85\\u2028\\u2029"


class _Untranslatable(Exception):
    pass


def _translate_java_regex(pattern: str) -> str:
    """Rewrite the Java-only parts of a regex; raises _Untranslatable when Python cannot express it."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise _Untranslatable(pattern)
            e = pattern[i + 1]
            if e == "Q":  # \Q...\E quotes literally
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if e in "pP":
                if i + 2 < n and pattern[i + 2] == "{":
                    close = pattern.find("}", i + 3)
                    if close < 0:
                        raise _Untranslatable(pattern)
                    name, i = pattern[i + 3 : close], close + 1
                else:
                    name, i = pattern[i + 2 : i + 3], i + 3
                body = _POSIX_CLASSES.get(name)
                if body is None or (in_class and e == "P"):
                    raise _Untranslatable(pattern)  # Unicode categories: not in Python's re
                out.append(body if in_class else f"[{'^' if e == 'P' else ''}{body}]")
                continue
            replacement = {
                "z": "\\Z",
                "Z": "(?=\\n?\\Z)",
                "h": _JAVA_HSPACE if in_class else f"[{_JAVA_HSPACE}]",
                "H": None if in_class else f"[^{_JAVA_HSPACE}]",
                "v": _JAVA_VSPACE if in_class else f"[{_JAVA_VSPACE}]",
                "V": None if in_class else f"[^{_JAVA_VSPACE}]",
                "e": "\\x1b",
                "R": None if in_class else "(?:\\r\\n|[\\n\\x0b\\f\\r\\x85\\u2028\\u2029])",
            }
            if e in replacement:
                rep = replacement[e]
                if rep is None:
                    raise _Untranslatable(pattern)
                out.append(rep)
                i += 2
                continue
            if e in "GXk":
                raise _Untranslatable(pattern)
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" or (c == "&" and pattern.startswith("&&", i)):
                raise _Untranslatable(pattern)  # Java class union/intersection
            if c == "]":
                in_class = False
            elif c in "~|&":
                out.append("\\")  # literal in Java; Python warns about future set operations
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # A leading ']' (after an optional '^') is literal in both dialects; copy it verbatim.
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == ".":
            out.append(_JAVA_DOT)
        elif c == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")  # named group
            i += 3
            continue
        else:
            out.append(c)
        i += 1
    if in_class:
        raise _Untranslatable(pattern)
    return "".join(out)


_pattern_cache: dict[str, Callable[[str], object] | None] = {}


def compile_java_pattern(pattern: str) -> Callable[[str], object] | None:
    """The ``fullmatch`` of the translated pattern, or None if it cannot be enforced."""
    if pattern not in _pattern_cache:
        try:
            with warnings.catch_warnings():
                # Python warns about set operations it may add one day; Java has its own meaning anyway.
                warnings.simplefilter("ignore", FutureWarning)
                # re.ASCII: Java's \w, \d, \s and case folding are ASCII-only by default.
                _pattern_cache[pattern] = re.compile(_translate_java_regex(pattern), re.ASCII).fullmatch
        except (_Untranslatable, re.error, OverflowError, RecursionError):
            _pattern_cache[pattern] = None
    return _pattern_cache[pattern]
