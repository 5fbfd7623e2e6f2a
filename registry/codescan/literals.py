"""Rebuild the text of Python string expressions with a source line for every character.

SQL in code is rarely one plain literal: it is implicitly concatenated, triple-quoted,
an f-string, `"…".format(…)`, `"…" % (…)` or `"…" + name`. `StringBuilder` turns such an
expression into one string in which each template hole (`{table}`, `%s`, a concatenated
variable) is replaced by an identifier-shaped marker (`sql.hole_marker`), and keeps the
source line of every character so a name found at offset N maps back to its line.

The literal text comes from the tokenizer, not from the AST: the AST has no position
for the pieces of an implicitly concatenated string, nor (before Python 3.12) for the
parts of an f-string.
"""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize
from dataclasses import dataclass, field

from registry.codescan.sql import hole_marker

_PREFIX_RE = re.compile(r"([A-Za-z]*)('''|\"\"\"|'|\")")
_ESCAPE_RE = re.compile(
    r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-7]{1,3}|.)", re.DOTALL
)
# psycopg / DB-API placeholders and %-format holes; `%%` is a literal percent sign.
_PERCENT_RE = re.compile(r"%%|%(\([A-Za-z_][A-Za-z_0-9]*\))?[-#0 +]*[0-9]*(\.[0-9]+)?[sdifrxXeEgGc]")


@dataclass
class BuiltString:
    text: str = ""
    lines: list[int] = field(default_factory=list)
    holes: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    def add(self, chars: str, line: int) -> None:
        self.parts.append(chars)
        self.lines.extend([line] * len(chars))

    def hole(self, source: str, line: int) -> None:
        self.add(hole_marker(len(self.holes)), line)
        self.holes.append(source)

    def finish(self) -> BuiltString:
        self.text = "".join(self.parts)
        return self


class SourceStrings:
    """The string tokens of one module, looked up by the span of an AST node."""

    def __init__(self, source: str):
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self._tokens: list[tuple[tuple[int, int], tuple[int, int], str]] | None = None
        self.starts: list[tuple[int, int]] = []

    @property
    def tokens(self) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
        # Tokenizing costs as much as parsing: only modules with SQL-looking strings pay it.
        if self._tokens is None:
            self._tokens = self._string_tokens()
            self.starts = [t[0] for t in self._tokens]
        return self._tokens

    def _string_tokens(self) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
        found = []
        depth, start = 0, (0, 0)
        for tok in tokenize.generate_tokens(io.StringIO(self.source).readline):
            name = tokenize.tok_name[tok.type]
            # Python 3.12+ splits f-strings into START/MIDDLE/END tokens: keep the whole.
            if name == "FSTRING_START":
                depth, start = depth + 1, start if depth else tok.start
            elif name == "FSTRING_END":
                depth -= 1
                if not depth:
                    found.append((start, tok.end, self._text(start, tok.end)))
            elif name == "STRING" and not depth:
                found.append((tok.start, tok.end, tok.string))
        return found

    def _text(self, start: tuple[int, int], end: tuple[int, int]) -> str:
        if start[0] == end[0]:
            return self.lines[start[0] - 1][start[1] : end[1]]
        middle = self.lines[start[0] : end[0] - 1]
        return "".join([self.lines[start[0] - 1][start[1] :], *middle, self.lines[end[0] - 1][: end[1]]])

    def _char_col(self, line: int, byte_col: int) -> int:
        # AST columns are UTF-8 byte offsets, tokenizer columns are characters.
        return len(self.lines[line - 1].encode()[:byte_col].decode(errors="ignore"))

    def tokens_of(self, node: ast.expr) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
        begin = (node.lineno, self._char_col(node.lineno, node.col_offset))
        end = (node.end_lineno, self._char_col(node.end_lineno, node.end_col_offset))
        tokens = self.tokens
        i = bisect.bisect_left(self.starts, begin)
        found = []
        while i < len(tokens) and tokens[i][1] <= end:
            found.append(tokens[i])
            i += 1
        return found


def is_stringish(node: ast.AST) -> bool:
    """A str literal, f-string, or an expression building SQL text from one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_stringish(node.left) or is_stringish(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return is_stringish(node.left)
    return _is_format_call(node)


def _is_format_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and is_stringish(node.func.value)
    )


def build(node: ast.expr, source: SourceStrings, *, fmt: bool = False) -> BuiltString:
    """The text of `node`; with `fmt`, `{…}` in plain literals are template holes too."""
    out = BuiltString()
    _build(node, source, out, fmt=fmt)
    return out.finish()


def approximate_text(node: ast.expr) -> str:
    """The text of a string expression from the AST alone, holes as `x`: cheap, for a
    first look before the exact, tokenizer-based `build`."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else "x"
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return approximate_text(node.left) + approximate_text(node.right)
    if isinstance(node, ast.BinOp):
        return approximate_text(node.left)
    if _is_format_call(node):
        return approximate_text(node.func.value)
    return "x"


def _build(node: ast.expr, source: SourceStrings, out: BuiltString, *, fmt: bool) -> None:
    if isinstance(node, ast.Constant | ast.JoinedStr):
        for start, _end, text in source.tokens_of(node):
            _read_token(text, start[0], out, fmt=fmt)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        for side in (node.left, node.right):
            if is_stringish(side):
                _build(side, source, out, fmt=fmt)
            else:
                out.hole("{" + ast.unparse(side) + "}", side.lineno)
    elif isinstance(node, ast.BinOp):  # "…" % args: the holes are in the literal
        first = len(out.holes)
        _build(node.left, source, out, fmt=fmt)
        _name_percent_holes(out, first, node.right)
    elif _is_format_call(node):
        _build(node.func.value, source, out, fmt=True)
    else:
        out.hole("{" + ast.unparse(node) + "}", node.lineno)


def _name_percent_holes(out: BuiltString, first: int, args: ast.expr) -> None:
    """Show `"… from %s" % table` as `{table}`: the argument says more than `%s`."""
    values = args.elts if isinstance(args, ast.Tuple) else [args]
    positional = [i for i in range(first, len(out.holes)) if not out.holes[i].startswith("%(")]
    if len(positional) == len(values) and not isinstance(args, ast.Dict):
        for i, value in zip(positional, values, strict=True):
            out.holes[i] = "{" + ast.unparse(value) + "}"


def _read_token(text: str, line: int, out: BuiltString, *, fmt: bool) -> None:
    """Append one string token's value, turning template holes into markers."""
    prefix, quote = _PREFIX_RE.match(text).groups()
    prefix = prefix.lower()
    if "b" in prefix:
        out.hole(text, line)  # bytes are never SQL text we can read
        return
    body = text[len(prefix) + len(quote) : len(text) - len(quote)]
    braces, raw = fmt or "f" in prefix, "r" in prefix
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and not raw:
            if body[i + 1 : i + 2] == "\n":  # line continuation inside the literal
                line, i = line + 1, i + 2
                continue
            escape = _ESCAPE_RE.match(body, i).group(0)
            out.add(_unescape(escape), line)
            i += len(escape)
        elif braces and char in "{}":
            if body[i : i + 2] in ("{{", "}}"):
                out.add(char, line)
                i += 2
                continue
            end = _closing_brace(body, i)
            out.hole(body[i:end], line)
            line += body.count("\n", i, end)
            i = end
        elif char == "%" and (match := _PERCENT_RE.match(body, i)):
            if match.group(0) == "%%":
                out.add("%", line)
            else:
                out.hole(match.group(0), line)
            i = match.end()
        else:
            out.add(char, line)
            line += char == "\n"
            i += 1


_SIMPLE_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\r": "\r", "\\\\": "\\", "\\'": "'", '\\"': '"'}


def _unescape(escape: str) -> str:
    if escape in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[escape]
    try:
        return ast.literal_eval(f'"{escape}"')
    except (SyntaxError, ValueError):
        return escape


def _closing_brace(body: str, i: int) -> int:
    """Index after the `}` closing the replacement field that opens at `i`."""
    depth, quote = 0, ""
    for j in range(i, len(body)):
        char = body[j]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
            if not depth:
                return j + 1
    return len(body)
