"""SQL identifiers: the one splitter of dotted names, and quoting through psycopg.sql.

PostgreSQL's rules: unquoted parts fold to lower case; quoted parts keep their case and
may contain dots; a doubled quote inside quotes is one quote.
"""

from __future__ import annotations

from psycopg import sql


class InvalidName(ValueError):
    """A name that is not a valid (optionally quoted, dotted) SQL identifier chain."""


def split_identifier(name: str, *, strict: bool = True) -> list[str]:
    """`db.Schema."Mixed.Case"` → ['db', 'schema', 'Mixed.Case'].

    Strict (names a person typed: resolver targets, filters): an unterminated quote, an
    empty part or text after a quoted part raises InvalidName. Lenient (`strict=False`,
    keys producers send, which must always normalize): never raises; an unterminated
    quote runs to the end, empty parts are kept, quotes may open inside a part.
    """
    return _split_strict(name) if strict else _split_lenient(name)


def _split_strict(name: str) -> list[str]:
    parts: list[str] = []
    i, n = 0, len(name)
    while True:
        if i < n and name[i] == '"':
            j, buf = i + 1, []
            while True:
                k = name.find('"', j)
                if k < 0:
                    raise InvalidName(f"unterminated quoted identifier in {name!r}")
                buf.append(name[j:k])
                if k + 1 < n and name[k + 1] == '"':  # "" is an escaped quote
                    buf.append('"')
                    j = k + 2
                    continue
                break
            part, i = "".join(buf), k + 1
        else:
            k = name.find(".", i)
            k = n if k < 0 else k
            part, i = name[i:k].strip().lower(), k
        if not part:
            raise InvalidName(f"empty identifier in {name!r}")
        parts.append(part)
        if i >= n:
            return parts
        if name[i] != ".":
            raise InvalidName(f"unexpected {name[i]!r} after identifier in {name!r}")
        i += 1


def _split_lenient(name: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quoted = in_quotes = False
    i = 0
    while i < len(name):
        ch = name[i]
        if in_quotes:
            if ch == '"' and name[i + 1 : i + 2] == '"':
                buf.append('"')
                i += 1
            elif ch == '"':
                in_quotes = False
            else:
                buf.append(ch)
        elif ch == '"':
            in_quotes = quoted = True
        elif ch == ".":
            parts.append(_finish(buf, quoted))
            buf, quoted = [], False
        else:
            buf.append(ch)
        i += 1
    parts.append(_finish(buf, quoted))
    return parts


def _finish(buf: list[str], quoted: bool) -> str:
    text = "".join(buf)
    return text if quoted else text.strip().lower()


def qualified(*parts: str) -> sql.Identifier:
    """`"schema"."name"` for a statement (psycopg.sql composes it safely)."""
    return sql.Identifier(*parts)


def quoted(*parts: str) -> str:
    """`"schema"."name"` as text (every part quoted, embedded quotes doubled)."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)
