"""Normalized asset keys: one spelling per asset, whatever the producer wrote.

The ledger stores every key as received *and* normalized; the registry maps the
normalized form to its objects through resolver rules.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from common.identifiers import split_identifier

_POSTGRES_SCHEMES = {"postgres", "postgresql"}
_DEFAULT_PG_PORT = 5432
# An identifier PostgreSQL keeps as-is without quotes (after case folding).
_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")


def quote_part(part: str) -> str:
    """Quote a part only when PostgreSQL would need it (like `quote_ident`)."""
    if _PLAIN_IDENT.match(part):
        return part
    return '"' + part.replace('"', '""') + '"'


def normalize_namespace(namespace: str) -> str:
    """`postgres://Host:5432` and `postgresql://host` → `postgresql://host:5432`.

    Credentials and paths are dropped (a namespace names a server, never a password);
    other schemes are kept with their scheme and host lower-cased.
    """
    namespace = namespace.strip().rstrip("/")
    if "://" not in namespace:
        return namespace
    parts = urlsplit(namespace)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme in _POSTGRES_SCHEMES:
        return f"postgresql://{host}:{parts.port or _DEFAULT_PG_PORT}"
    port = f":{parts.port}" if parts.port else ""
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}{port}{path}"


def normalize_asset_key(key: str, namespace: str | None = None) -> str:
    """The one spelling of an asset key.

    Normalized form, for SQL-like keys (no namespace, or a postgres/postgresql one):

        [postgresql://<host>:<port>/][<database>/]<schema>.<object>

    - the namespace `postgres://H:P` or `postgresql://H` becomes `postgresql://h:P`
      (port 5432 when absent, host lower-case, credentials dropped);
    - a three-part name `db.schema.table` moves its database in front, so that the
      last path segment is always `schema.table`, as for a two-part name;
    - unquoted identifiers fold to lower case, quoted ones keep their case, and parts
      are re-quoted only where PostgreSQL needs quotes (`"Sales"."Q1"` →
      `"Sales"."Q1"`, `"raw"."orders"` → `raw.orders`);
    - a one-part name stays one part (adding a default schema is a resolver rule).

    Keys in other namespaces (files, object stores, other engines) keep their name as
    received, prefixed with the normalized namespace and a `/`.

    >>> normalize_asset_key("shop.RAW.Orders", "postgres://DB:5432")
    'postgresql://db:5432/shop/raw.orders'
    >>> normalize_asset_key('"raw"."orders"')
    'raw.orders'
    """
    ns = normalize_namespace(namespace) if namespace else ""
    scheme = ns.split("://", 1)[0] if "://" in ns else ""
    if ns and scheme != "postgresql":
        return f"{ns}/{key.strip()}"
    parts = split_identifier(key.strip(), strict=False)
    prefix = [ns] if ns else []
    if len(parts) >= 3:
        prefix.append(".".join(quote_part(p) for p in parts[:-2]))
        parts = parts[-2:]
    return "/".join([*prefix, ".".join(quote_part(p) for p in parts)])
