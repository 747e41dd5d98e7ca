"""A small CEL lexer and the `${{ }}` scanner used by `workflows.language.expressions`.

cel-expr-python exposes no AST, so static facts the validator needs (which
`steps.<id>` an expression references, which top-level names it uses) come from
tokens. String literals are skipped properly, so `'steps.x'` in a string is not a
reference. Pure Python, deterministic, no imports with side effects.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

_IDENT_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT = _IDENT_START | set("0123456789")
_DIGITS = set("0123456789")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident | number | string | punct
    text: str
    value: Any = None
    pos: int = -1  # offset in the source (identifiers only; the budget rewrites some calls)


def _skip_string(text: str, i: int, raw: bool) -> int:
    """`text[i]` is a quote; return the index just past the closing quote."""
    q = text[i]
    triple = text.startswith(q * 3, i)
    delim = q * 3 if triple else q
    j = i + len(delim)
    while j < len(text):
        c = text[j]
        if c == "\\" and not raw:
            j += 2
            continue
        if text.startswith(delim, j):
            return j + len(delim)
        if c == "\n" and not triple:
            break
        j += 1
    raise ValueError(f"unterminated string literal starting at column {i + 1}")


def _string_prefix(text: str, start: int, i: int) -> str:
    """The letters r/b immediately before the quote at i (part of the literal)."""
    j = i
    while j > start and text[j - 1] in "rRbB" and i - j < 2:
        j -= 1
    if j > start and text[j - 1] in _IDENT:
        return ""  # part of an identifier, not a prefix
    return text[j:i]


def _decode(body: str, raw: bool) -> str:
    if raw or "\\" not in body:
        return body
    try:
        return codecs.decode(body, "unicode_escape")
    except UnicodeDecodeError:
        return body


def tokenize(source: str) -> list[Token]:
    """Tokens of a CEL expression; raises ValueError on an unterminated string."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
        elif source.startswith("//", i):
            nl = source.find("\n", i)
            i = n if nl < 0 else nl + 1
        elif c in "'\"":
            prefix = ""
            if (
                tokens
                and tokens[-1].kind == "ident"
                and tokens[-1].text.lower() in ("r", "b", "rb", "br")
            ):
                # e.g. r'..' lexed as ident `r` + string: merge into one string token
                if source[i - len(tokens[-1].text) : i] == tokens[-1].text:
                    prefix = tokens.pop().text
            raw = "r" in prefix.lower()
            end = _skip_string(source, i, raw)
            q = 3 if source.startswith(c * 3, i) else 1
            body = source[i + q : end - q]
            tokens.append(Token("string", prefix + source[i:end], _decode(body, raw)))
            i = end
        elif c in _IDENT_START:
            j = i
            while j < n and source[j] in _IDENT:
                j += 1
            tokens.append(Token("ident", source[i:j], pos=i))
            i = j
        elif c == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise ValueError(f"unterminated quoted identifier at column {i + 1}")
            tokens.append(Token("ident", source[i + 1 : end]))
            i = end + 1
        elif c in _DIGITS or (
            c == "."
            and i + 1 < n
            and source[i + 1] in _DIGITS
            and not (tokens and (tokens[-1].kind == "ident" or tokens[-1].text in (")", "]")))
        ):
            j = i + 1
            while j < n and (
                source[j] in _IDENT
                or source[j] == "."
                or (source[j] in "+-" and source[j - 1] in "eE" and not source.startswith("0x", i))
            ):
                j += 1
            tokens.append(Token("number", source[i:j]))
            i = j
        else:
            two = source[i : i + 2]
            if two in ("==", "!=", "<=", ">=", "&&", "||"):
                tokens.append(Token("punct", two))
                i += 2
            else:
                tokens.append(Token("punct", c))
                i += 1
    return tokens


def scan_embedded(text: str) -> list[str | tuple[str]]:
    """Split a string into literal text (str) and `${{ expr }}` parts ((source,)).

    The closing `}}` is found outside string literals and balanced braces, so
    `${{ {'a': {'b': 1}} }}` works. `$${{` stands for a literal `${{`.
    Raises ValueError for an unterminated or empty `${{ }}`.
    """
    parts: list[str | tuple[str]] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("$${{", i):
            buf.append("${{")
            i += 4
            continue
        if not text.startswith("${{", i):
            buf.append(text[i])
            i += 1
            continue
        start = i + 3
        j, depth = start, 0
        while True:
            if j >= n:
                raise ValueError(f"unterminated `${{{{` at column {i + 1} (missing `}}}}`)")
            c = text[j]
            if c in "'\"":
                prefix = _string_prefix(text, start, j)
                j = _skip_string(text, j, "r" in prefix.lower())
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                if depth == 0 and text.startswith("}}", j):
                    break
                depth -= 1
            j += 1
        source = text[start:j].strip()
        if not source:
            raise ValueError(f"empty `${{{{ }}}}` at column {i + 1}")
        if buf:
            parts.append("".join(buf))
            buf = []
        parts.append((source,))
        i = j + 2
    if buf or not parts:
        parts.append("".join(buf))
    return parts


def paths(tokens: list[Token]) -> list[tuple[str | int, ...]]:
    """Static access paths of top-level names: `steps.a.output['x'][0]` -> ('steps', 'a', 'output', 'x', 0).

    A path stops at a method call (`.map(`), a computed index or anything else; the
    part before is what the expression may read (the cost guard measures that subtree).
    """
    found: list[tuple[str | int, ...]] = []
    n = len(tokens)
    for i, t in enumerate(tokens):
        if t.kind != "ident" or (i > 0 and tokens[i - 1].text == "."):
            continue
        path: list[str | int] = [t.text]
        j = i + 1
        while j + 1 < n:
            if tokens[j].text == "." and tokens[j + 1].kind == "ident":
                if j + 2 < n and tokens[j + 2].text == "(":
                    break
                path.append(tokens[j + 1].text)
                j += 2
            elif j + 2 < n and tokens[j].text == "[" and tokens[j + 2].text == "]":
                key = tokens[j + 1]
                if key.kind == "string":
                    path.append(str(key.value))
                elif key.kind == "number" and key.text.isdigit():
                    path.append(int(key.text))
                else:
                    break
                j += 3
            else:
                break
        found.append(tuple(path))
    return found
