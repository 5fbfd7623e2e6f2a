"""Secrets in connection strings and messages: the only forms ever shown or logged.

A DSN is masked by parsing it as its driver would and rendering it again without the
password, never by searching the text for something that looks like one: libpq's
quoting (`password='ab\\'c'`, `password=abc\\ def`) defeats every pattern.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASK = "***"
POSTGRES_SCHEMES = ("postgresql", "postgres")
# libpq's secret keywords: the password, and the passphrase of the client's SSL key.
SECRET_KEYS = ("password", "sslpassword")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A URL inside free text: masked by parsing it (`mask_dsn`), as a DSN would be.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# In free text nothing can be parsed: whatever follows a `password=` is cut.
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_PASSWORD_IN_TEXT = re.compile(r"(password\s*=\s*).*", re.IGNORECASE)
# A password shorter than this is not searched for in a message (it would match
# everywhere): a message that holds it is replaced as a whole.
_SHORT_SECRET = 4
_PLACEHOLDER = "\x00dsn\x00"


class DsnError(ValueError):
    """A DSN that cannot be used. The message never echoes the DSN."""


def parse_dsn(dsn: str) -> dict[str, str]:
    """libpq's reading of a PostgreSQL DSN (URL or key=value), as a dict.

    Raises DsnError with a message that quotes no part of the DSN: libpq's own messages
    quote fragments, which may be pieces of the password.
    """
    scheme = _SCHEME.match(dsn)
    if scheme and "@" in _netloc(dsn).partition("@")[2]:
        # libpq splits at the first `@`: `user:p@ss@host` would connect to host `ss@host`
        # and print that name in its error.
        raise DsnError(
            "The user name or password of this URL contains '@': percent-encode it as %40 "
            "(postgresql://user:p%40ss@host/db), or use the key=value form."
        )
    try:
        return conninfo_to_dict(dsn)
    except psycopg.Error:
        raise DsnError(
            "Not a valid DSN: use postgresql://user@host:port/db or key=value pairs, or env:VARIABLE."
        ) from None


def mask_dsn(dsn: str) -> str:
    """`dsn` with its password replaced by ***, for any engine's connection string.

    `env:VAR` and plain file paths (DuckDB) carry no secret and are shown as they are.
    A PostgreSQL DSN with a secret is rendered from libpq's parse of it, in its own form
    (URL or key=value); one without is shown as written. Any other URL is rendered from
    its parsed parts, its userinfo's password masked. A DSN that does not parse is not
    shown at all.
    """
    if dsn.startswith("env:"):
        return dsn
    scheme = _SCHEME.match(dsn)
    if scheme and scheme.group(1).lower() not in POSTGRES_SCHEMES:
        return _mask_url(dsn)
    if not scheme and "=" not in dsn:
        return dsn  # a file path
    try:
        params = parse_dsn(dsn)
    except DsnError:
        return f"{MASK} (not a valid DSN)"
    if not any(key in params for key in SECRET_KEYS):
        return dsn
    params |= {key: MASK for key in SECRET_KEYS if key in params}
    if scheme:
        return _render_postgres_url(scheme.group(1), params)
    return make_conninfo(**params)


def secret_fragments(dsn: str) -> list[str]:
    """The secrets of `dsn` in every spelling a message might quote them: as parsed, as
    written (quoted or escaped) and percent-encoded. Empty when there are none."""
    if not dsn or dsn.startswith("env:"):
        return []
    scheme = _SCHEME.match(dsn)
    if scheme and scheme.group(1).lower() not in POSTGRES_SCHEMES:  # mysql://user:pw@host/db
        try:
            password = urlsplit(dsn).password
        except ValueError:
            return []
        return sorted({password, unquote(password)}, key=len, reverse=True) if password else []
    try:
        params = parse_dsn(dsn)
    except DsnError:
        return []
    spellings = set()
    for secret in filter(None, (params.get(key) for key in SECRET_KEYS)):
        spellings |= {secret, quote(secret, safe="")}
        spellings.add(secret.replace("\\", "\\\\").replace("'", "\\'").replace(" ", "\\ "))
    if _SCHEME.match(dsn) and urlsplit(dsn).password:
        spellings.add(urlsplit(dsn).password)
    return sorted(spellings, key=len, reverse=True)


def safe_message(error: BaseException | str, *, dsn: str = "", limit: int = 300) -> str:
    """A message about `error` that is safe to show, store and log.

    The first line only (drivers put data values in DETAIL lines), with `dsn` shown
    masked, its password removed in any spelling, every URL in the text masked, whatever
    follows a `password=` cut, at most `limit` characters.
    """
    text = error if isinstance(error, str) else str(error)
    text = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not text and isinstance(error, BaseException):
        text = type(error).__name__
    # The DSN itself is set aside while the rest is cleaned, then shown masked.
    quoted_dsn = bool(dsn) and dsn in text
    if quoted_dsn:
        text = text.replace(dsn, _PLACEHOLDER)
    for secret in secret_fragments(dsn):
        if secret not in text:
            continue
        if len(secret) < _SHORT_SECRET:
            kind = type(error).__name__ if isinstance(error, BaseException) else "error"
            return f"{kind} (message hidden: it quotes the connection's password)"
        text = text.replace(secret, MASK)
    if dsn and not dsn.startswith("env:") and not _parses(dsn):
        # Drivers quote the piece of a malformed DSN they choke on: it may be a password's.
        text = _QUOTED.sub(lambda m: _hide_if_in(m, dsn), text)
    text = _URL_IN_TEXT.sub(lambda m: mask_dsn(m.group(0)), text)
    text = _PASSWORD_IN_TEXT.sub(rf"\g<1>{MASK}", text)
    if quoted_dsn:
        text = text.replace(_PLACEHOLDER, mask_dsn(dsn))
    return text[:limit]


def _parses(dsn: str) -> bool:
    scheme = _SCHEME.match(dsn)
    if scheme and scheme.group(1).lower() not in POSTGRES_SCHEMES:
        return True  # another engine's URL: urlsplit reads any, its password is known
    try:
        parse_dsn(dsn)
    except DsnError:
        return False
    return True


def _hide_if_in(match: re.Match, dsn: str) -> str:
    quote_char, fragment = match.group(0)[0], match.group(0)[1:-1]
    if fragment in dsn and any(c.isalnum() for c in fragment):
        return f"{quote_char}{MASK}{quote_char}"
    return match.group(0)


def _netloc(url: str) -> str:
    """The authority of `url` as libpq delimits it: up to the first `/` or `?`."""
    rest = url.split("://", 1)[1]
    return re.split(r"[/?]", rest, maxsplit=1)[0]


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        password, hostinfo = parts.password, parts.netloc.rpartition("@")[2]
    except ValueError:
        return f"{MASK} (not a valid URL)"
    if password is None:
        return url
    netloc = f"{quote(parts.username or '', safe='')}:{MASK}@{hostinfo}"
    return urlunsplit(parts._replace(netloc=netloc))


def _render_postgres_url(scheme: str, params: dict[str, str]) -> str:
    """A postgresql:// URL saying what `params` say; host and port go in the query
    when the authority cannot hold them (Unix sockets, as many ports as hosts not)."""
    params = dict(params)
    user, password = params.pop("user", None), params.pop("password", None)
    netloc = ""
    if user is not None or password is not None:
        netloc = quote(user or "", safe="") + (f":{MASK}" if password is not None else "") + "@"
    hosts = params.get("host", "").split(",") if params.get("host") else []
    ports = params.get("port", "").split(",") if params.get("port") else []
    in_authority = all(h and not h.startswith(("/", "@")) for h in hosts) and (
        len(ports) <= 1 or len(ports) == len(hosts)
    )
    if hosts and in_authority:
        params.pop("host")
        params.pop("port", None)
        ports = ports * len(hosts) if len(ports) == 1 else ports or [""] * len(hosts)
        netloc += ",".join(
            (f"[{h}]" if ":" in h else quote(h, safe="")) + (f":{p}" if p else "")
            for h, p in zip(hosts, ports, strict=True)
        )
    elif not hosts and "port" in params and len(ports) == 1:
        netloc += f":{params.pop('port')}"
    path = "/" + quote(params.pop("dbname"), safe="") if "dbname" in params else ""
    query = urlencode(params, safe="/,@")
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")
