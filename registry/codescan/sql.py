"""Find the database objects a piece of SQL names, and how it uses them.

`find_references(text)` splits `text` into statements with a small lexer of our own
(it must understand comments, quoted identifiers, `E'…'` and dollar-quoted strings so
that a `;` or a `FROM` inside them never counts), parses each statement with sqlglot
(the source engine's dialect, postgres by default) and, when sqlglot cannot parse a statement or only gives up with a
generic `Command`, falls back to a token-level pattern (`INSERT INTO x(`, `REFRESH
MATERIALIZED VIEW …`, PL/pgSQL bodies). Dollar-quoted bodies (`CREATE FUNCTION … AS $$
… $$`, `DO $$ … $$`) are scanned as SQL too.

Positions are character offsets into `text`; the caller maps them to source lines.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope

# sqlglot logs a warning for every statement it only understands as a Command
# (REFRESH MATERIALIZED VIEW…); we handle those ourselves, the log would be noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Marks a template hole ({table}, %s, a concatenated variable) in SQL before parsing.
# Lower case and identifier-shaped so it survives parsing and PostgreSQL folding.
HOLE_RE = re.compile(r"zzhole(\d+)x")


def hole_marker(index: int) -> str:
    return f"zzhole{index}x"


@dataclass(frozen=True)
class SqlReference:
    offset: int  # where the (qualified) name starts in the text
    parts: tuple[str, ...]  # identifiers as written, e.g. ('mart', '"Daily.Stats"')
    kind: str  # read | write | refresh | ddl
    search_path: tuple[str, ...] | None
    # Columns of this table the statement names, folded like identifiers; "*" for
    # `SELECT *` / `t.*`. Empty when the statement was not parsed by sqlglot.
    columns: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class ColumnCatalog:
    """The column names of a source's objects, to qualify the columns of a statement
    that reads several tables (`SELECT revenue FROM a JOIN b`): a column belongs to the
    one table that has it. Hashed by identity, so parse results can be cached per scan."""

    columns: dict[tuple[str, str], frozenset[str]]
    search_path: tuple[str, ...] = ()

    def of(self, schema: str | None, name: str) -> frozenset[str] | None:
        if schema:
            return self.columns.get((schema, name))
        return next((self.columns[(s, name)] for s in self.search_path if (s, name) in self.columns), None)


@dataclass(frozen=True)
class Token:
    kind: str  # word | quoted | string | dollar | num | op
    text: str
    start: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*)
  | (?P<block>/\*)
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$)
  | (?P<string>[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
  | (?P<num>\$?[0-9]+(?:\.[0-9]+)?)
  | (?P<op>::|.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str) -> list[Token]:
    """Lex SQL into tokens, dropping whitespace and comments. Never raises."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:  # an unterminated quote: the rest is one string
            tokens.append(Token("string", text[pos:], pos))
            break
        kind = match.lastgroup if match.lastgroup != "tag" else "dollar"
        if kind == "block":
            pos = _skip_block_comment(text, pos)
            continue
        if kind == "dollar":
            close = text.find(match.group(0), match.end())
            end = len(text) if close < 0 else close + len(match.group(0))
            tokens.append(Token("dollar", text[pos:end], pos))
            pos = end
            continue
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, match.group(0), pos))
        pos = match.end()
    return tokens


def _skip_block_comment(text: str, pos: int) -> int:
    # PostgreSQL block comments nest.
    depth, pos = 1, pos + 2
    while depth and pos < len(text):
        if text.startswith("/*", pos):
            depth, pos = depth + 1, pos + 2
        elif text.startswith("*/", pos):
            depth, pos = depth - 1, pos + 2
        else:
            pos += 1
    return pos


def split_statements(tokens: list[Token]) -> list[list[Token]]:
    statements, current = [], []
    for token in tokens:
        if token.kind == "op" and token.text == ";":
            if current:
                statements.append(current)
            current = []
        else:
            current.append(token)
    if current:
        statements.append(current)
    return statements


def normalize(identifier: str) -> str:
    """An identifier as PostgreSQL folds it: unquoted → lower case, quoted → exact."""
    if identifier.startswith('"') and identifier.endswith('"') and len(identifier) >= 2:
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def find_references(
    text: str,
    *,
    track_search_path: bool = False,
    base: int = 0,
    search_path: tuple[str, ...] | None = None,
    dialect: str = "postgres",
    catalog: ColumnCatalog | None = None,
) -> list[SqlReference]:
    """Every table-like name in `text` with its statement kind, in text order.

    With `track_search_path` (a `.sql` file), `SET search_path` applies to the
    statements after it and is recorded on their references. `dialect` is the sqlglot
    dialect of the source's engine; `catalog` qualifies the columns of statements that
    read several tables.
    """
    refs: list[SqlReference] = []
    for statement in split_statements(tokenize(text)):
        new_path = _search_path_of(statement)
        if new_path is not None:
            search_path = new_path if track_search_path else search_path
            continue
        start, end = statement[0].start, statement[-1].start + len(statement[-1].text)
        found = _parse_with_sqlglot(text[start:end], dialect, catalog)
        if found is None:
            found = [(statement[i].start - start, parts, kind, ()) for i, parts, kind in _fallback(statement)]
        refs += [
            SqlReference(base + start + off, parts, kind, search_path, columns)
            for off, parts, kind, columns in found
        ]
        for token in statement:
            if token.kind == "dollar":
                refs += _dollar_body(token, base, track_search_path, search_path, dialect, catalog)
    return sorted(refs, key=lambda ref: ref.offset)


def _dollar_body(
    token: Token,
    base: int,
    track: bool,
    search_path: tuple[str, ...] | None,
    dialect: str,
    catalog: ColumnCatalog | None,
) -> list[SqlReference]:
    tag_len = token.text.index("$", 1) + 1
    body = token.text[tag_len:-tag_len]
    return find_references(
        body,
        track_search_path=track,
        base=base + token.start + tag_len,
        search_path=search_path,
        dialect=dialect,
        catalog=catalog,
    )


def _search_path_of(statement: list[Token]) -> tuple[str, ...] | None:
    words = [t.upper for t in statement[:3]]
    i = 1 + (words[1:2] in (["SESSION"], ["LOCAL"]))
    if words[:1] != ["SET"] or len(statement) <= i + 1 or statement[i].text.lower() != "search_path":
        return None
    names = [t for t in statement[i + 2 :] if not (t.kind == "op" and t.text == ",")]
    return tuple(t.text[1:-1] if t.kind == "string" else normalize(t.text) for t in names)


# --- sqlglot ---------------------------------------------------------------------------

_WRITE_STATEMENTS = (exp.Insert, exp.Update, exp.Delete, exp.Merge)
_DDL_STATEMENTS = (exp.Create, exp.Alter, exp.Drop, exp.Comment)
# DDL on relations; CREATE INDEX names its table, DROP INDEX only the index.
_DDL_KINDS = {"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE"}
_DDL_KINDS_CREATE = _DDL_KINDS | {"INDEX"}


def _parse_with_sqlglot(
    sql: str, dialect: str, catalog: ColumnCatalog | None = None
) -> list[tuple[int, tuple[str, ...], str, tuple[str, ...]]] | None:
    """(offset, parts, kind, columns) of each table in one statement; None when sqlglot
    can't tell."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return None
    except Exception:  # a sqlglot bug on odd input: the token patterns still apply
        return None
    if tree is None or isinstance(tree, exp.Command):
        return None
    if isinstance(
        tree, exp.Transaction | exp.Commit | exp.Rollback | exp.Set | exp.Analyze | exp.Grant | exp.Revoke
    ):
        return []  # maintenance and privileges are no use of the data
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    writes = {id(table) for table in _write_targets(tree)}
    uses = column_uses(tree, catalog)
    found = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or table.find_ancestor(exp.Into, exp.Reference):
            continue
        if not table.args.get("db") and table.name.lower() in ctes:
            continue  # a CTE name is not a table
        identifiers = [table.args["db"], table.this] if table.args.get("db") else [table.this]
        if "start" not in identifiers[0].meta:
            return None  # a node without a position: let the fallback place it
        kind = _kind(tree, table, writes)
        if kind:
            parts = tuple(f'"{i.this}"' if i.quoted else i.this for i in identifiers)
            found.append((identifiers[0].meta["start"], parts, kind, tuple(sorted(uses.get(id(table), ())))))
    return found


def _write_targets(tree: exp.Expression) -> list[exp.Table]:
    # Every INSERT/UPDATE/DELETE/MERGE node, so that data-modifying CTEs count too:
    # `WITH moved AS (DELETE FROM a … RETURNING *) INSERT INTO b SELECT * FROM moved`.
    targets = [node.this for node in tree.find_all(*_WRITE_STATEMENTS)]
    if isinstance(tree, exp.TruncateTable):
        targets += tree.expressions
    if isinstance(tree, exp.Copy) and tree.args.get("kind"):  # COPY … FROM loads the table
        targets.append(tree.this)
    return [target.this if isinstance(target, exp.Schema) else target for target in targets]


def _kind(tree: exp.Expression, table: exp.Table, writes: set[int]) -> str | None:
    """The use of `table`; None when the name is no relation (CREATE FUNCTION f, DROP INDEX i)."""
    if id(table) in writes:
        return "write"
    if isinstance(tree, _DDL_STATEMENTS) and not table.find_ancestor(exp.Query):
        allowed = _DDL_KINDS_CREATE if isinstance(tree, exp.Create) else _DDL_KINDS
        return "ddl" if str(tree.args.get("kind") or "").upper() in allowed else None
    return "read"


# --- columns ----------------------------------------------------------------------------


def _folded(identifier: exp.Expression) -> str:
    return identifier.this if getattr(identifier, "quoted", False) else str(identifier.this).lower()


def column_uses(tree: exp.Expression, catalog: ColumnCatalog | None) -> dict[int, set[str]]:
    """id(table node) → the column names the statement uses of that table.

    Scope by scope (sqlglot's optimizer scopes: each SELECT, CTE and subquery), a
    column goes to the table its qualifier names (an alias or the table's name); an
    unqualified one to the only source of its scope, or to the one source that has it
    (a table by the catalog, a CTE or subquery by its output). A CTE's or subquery's
    column is followed to the table column it passes through (`SELECT *` included);
    computed outputs stop there (their inputs are counted in their own scope).
    INSERT column lists and the SET/WHERE columns of UPDATE and DELETE go to the target.
    """
    uses: dict[int, set[str]] = {}
    try:
        scopes = traverse_scope(tree)
    except Exception:  # sqlglot cannot scope it (odd input): no columns, the tables stay
        scopes = []
    for scope in scopes:
        for column in scope.columns:
            name = _folded(column.this)
            if HOLE_RE.search(name):
                continue
            for table in _owners(scope, column.table, name, catalog, 0):
                uses.setdefault(id(table), set()).add(name)
        if isinstance(scope.expression, exp.Select):
            for projection in scope.expression.expressions:
                if isinstance(projection, exp.Star):
                    tables = [s for _, s in scope.selected_sources.values() if isinstance(s, exp.Table)]
                elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                    tables = [t for t in _sources(scope, projection.table) if isinstance(t, exp.Table)]
                else:
                    continue
                for table in tables:
                    uses.setdefault(id(table), set()).add("*")
    _dml_uses(tree, uses)
    return uses


def _sources(scope, qualifier: str) -> list:
    if qualifier:
        found = scope.selected_sources.get(qualifier) or (None, scope.sources.get(qualifier))
        return [found[1]] if found[1] is not None else []
    return [source for _, source in scope.selected_sources.values()]


def _has(source, name: str, catalog: ColumnCatalog | None) -> bool:
    if not isinstance(source, exp.Table):  # a CTE or subquery: by its output
        select = source.expression
        return isinstance(select, exp.Select) and (name in select.named_selects or select.is_star)
    if catalog is None or not isinstance(source.this, exp.Identifier):
        return False
    schema = _folded(source.args["db"]) if source.args.get("db") else None
    columns = catalog.of(schema, _folded(source.this))
    return columns is not None and name in columns


def _owners(scope, qualifier: str, name: str, catalog: ColumnCatalog | None, depth: int) -> list[exp.Table]:
    candidates = _sources(scope, qualifier)
    if len(candidates) > 1:
        candidates = [c for c in candidates if _has(c, name, catalog)]
    if len(candidates) != 1 or depth > 10:
        return []  # not in any source, or in several: cannot tell whose it is
    source = candidates[0]
    if isinstance(source, exp.Table):
        return [source] if isinstance(source.this, exp.Identifier) else []
    select = source.expression
    if not isinstance(select, exp.Select):
        return []  # a UNION: its branches count their own columns
    for projection in select.expressions:
        inner = projection.unalias() if isinstance(projection, exp.Alias) else projection
        if (
            projection.alias_or_name == name
            and isinstance(inner, exp.Column)
            and not isinstance(inner.this, exp.Star)
        ):
            return _owners(source, inner.table, _folded(inner.this), catalog, depth + 1)
    if name not in select.named_selects and select.is_star:
        return _owners(source, "", name, catalog, depth + 1)
    return []


def _dml_uses(tree: exp.Expression, uses: dict[int, set[str]]) -> None:
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        target = tree.this.this
        names = {_folded(i) for i in tree.this.expressions if isinstance(i, exp.Identifier)}
        uses.setdefault(id(target), set()).update(names)
    if not isinstance(tree, exp.Update | exp.Delete) or not isinstance(tree.this, exp.Table):
        return
    if tree.args.get("from") or tree.args.get("using") or tree.args.get("joins"):
        return  # several tables: columns are ambiguous without the scopes of a query
    target = tree.this
    aliases = {"", target.name, target.alias}
    for column in tree.find_all(exp.Column):
        if column.find_ancestor(exp.Subquery, exp.Select) is None and column.table in aliases:
            name = _folded(column.this)
            if not HOLE_RE.search(name):
                uses.setdefault(id(target), set()).add(name)


# --- token-level fallback ---------------------------------------------------------------

# Words that can never start a table name after FROM/JOIN.
_NOT_A_NAME = {
    "SELECT", "WHERE", "LATERAL", "VALUES", "WITH", "ON", "USING", "GROUP", "ORDER", "LIMIT",
    "UNION", "AS", "SET", "RETURNING", "JOIN", "FROM", "INTO", "INNER", "LEFT", "RIGHT", "FULL", "CROSS",
}  # fmt: skip
_SKIP_WORDS = {"ONLY", "TABLE", "IF", "EXISTS", "NOT", "CONCURRENTLY"}
_DDL_OBJECTS = {"TABLE", "VIEW"}


def _fallback(tokens: list[Token]) -> list[tuple[int, tuple[str, ...], str]]:
    """(token index, parts, kind) found by patterns, for statements sqlglot can't parse.

    FROM/JOIN are only trusted at query level: inside the parentheses of a function
    call (`extract(year FROM ts)`, `substring(x FROM 2)`) they name no table.
    """
    found: list[tuple[int, tuple[str, ...], str]] = []
    query_level = [True]  # one entry per open parenthesis
    words = [t.upper for t in tokens]
    copy_kind = "write" if "FROM" in words else "read"
    for i, token in enumerate(tokens):
        if token.kind == "op" and token.text in "()":
            if token.text == "(":
                query_level.append(i + 1 < len(tokens) and words[i + 1] in ("SELECT", "WITH", "VALUES"))
            elif len(query_level) > 1:
                query_level.pop()
            continue
        word, prev = words[i], words[i - 1] if i else ""
        if word in ("FROM", "JOIN") and query_level[-1] and prev not in ("DISTINCT", "DELETE"):
            found += _names_list(tokens, i + 1, "read", allow_call=False)
        elif word == "INTO" and prev in ("INSERT", "MERGE"):
            found += _names_list(tokens, i + 1, "write", single=True)
        elif word == "USING" and "MERGE" in words[:i]:
            found += _names_list(tokens, i + 1, "read", single=True, allow_call=False)
        elif (word == "UPDATE" and prev not in ("FOR", "DO", "ON", "KEY")) or (
            word == "FROM" and prev == "DELETE"
        ):
            found += _names_list(tokens, i + 1, "write", single=True)
        elif word == "TRUNCATE":
            found += _names_list(tokens, i + 1, "write")
        elif word == "COPY" and i == 0:
            found += _names_list(tokens, i + 1, copy_kind, single=True)
        elif word == "VIEW" and prev == "MATERIALIZED" and i >= 2 and words[i - 2] == "REFRESH":
            found += _names_list(tokens, i + 1, "refresh", single=True)
        elif word in _DDL_OBJECTS and _is_ddl_head(words[:i]):
            found += _names_list(tokens, i + 1, "ddl", single=words[0] != "DROP")
        elif word == "ON" and words[:1] == ["CREATE"] and "INDEX" in words[:i]:
            found += _names_list(tokens, i + 1, "ddl", single=True)
    return found


def _is_ddl_head(before: list[str]) -> bool:
    """CREATE [OR REPLACE] [TEMP|UNLOGGED|MATERIALIZED…] TABLE/VIEW, ALTER …, DROP …"""
    if not before or before[0] not in ("CREATE", "ALTER", "DROP"):
        return False
    allowed = {
        "OR",
        "REPLACE",
        "TEMP",
        "TEMPORARY",
        "UNLOGGED",
        "MATERIALIZED",
        "GLOBAL",
        "LOCAL",
        "RECURSIVE",
    }
    return all(word in allowed for word in before[1:])


def _names_list(
    tokens: list[Token], i: int, kind: str, *, single: bool = False, allow_call: bool = True
) -> list[tuple[int, tuple[str, ...], str]]:
    found = []
    while i < len(tokens):
        while i < len(tokens) and tokens[i].upper in _SKIP_WORDS:
            i += 1
        start, parts, i = _read_name(tokens, i)
        if not parts:
            break
        is_call = i < len(tokens) and tokens[i].text == "("
        if allow_call or not is_call:
            found.append((start, parts, kind))
        if single:
            break
        # `FROM a x, b y`: skip an alias, continue after a comma.
        while i < len(tokens) and tokens[i].kind in ("word", "quoted") and tokens[i].upper not in _NOT_A_NAME:
            i += 1
        if i < len(tokens) and tokens[i].text == ",":
            i += 1
            continue
        break
    return found


def _read_name(tokens: list[Token], i: int) -> tuple[int, tuple[str, ...], int]:
    start, parts = i, []
    while i < len(tokens) and tokens[i].kind in ("word", "quoted"):
        if not parts and tokens[i].upper in _NOT_A_NAME:
            break
        parts.append(tokens[i].text)
        if i + 1 < len(tokens) and tokens[i + 1].text == "." and i + 2 < len(tokens):
            i += 2
            continue
        i += 1
        break
    return start, tuple(parts), i
