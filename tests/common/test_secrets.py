"""`common.secrets`: DSNs masked by parsing them as libpq does, and messages safe to show."""

from __future__ import annotations

import pytest

from common.secrets import DsnError, mask_dsn, parse_dsn, safe_message

SECRET = "S3cretPW"


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        # libpq's quoting: a quoted value with an escaped quote, an escaped space
        (r"host=h password='ab\'S3cretPW' user=u", "user=u password=*** host=h"),
        (r"host=h password=abc\ S3cretPW", "password=*** host=h"),
        ("host=h password='two words S3cretPW' dbname=w", "password=*** dbname=w host=h"),
        ("postgresql://etl:S3cretPW@db.internal:5433/w", "postgresql://etl:***@db.internal:5433/w"),
        ("postgres://etl:ab%40S3cretPW@h/w", "postgres://etl:***@h/w"),
        # a password in the query string, several hosts, a Unix socket
        (
            "postgresql://etl@h1:5,h2:6/w?password=S3cretPW&sslmode=require",
            "postgresql://etl:***@h1:5,h2:6/w?sslmode=require",
        ),
        ("postgresql://u@/db?host=/run/pg&port=5433", "postgresql://u@/db?host=/run/pg&port=5433"),
        ("postgresql://[::1]:5/db", "postgresql://[::1]:5/db"),
        # nothing secret: shown as written
        ("host=/run/pg port=5433 user=u dbname=d", "host=/run/pg port=5433 user=u dbname=d"),
        ("host=h sslkey=/k.pem sslpassword=S3cretPW", "host=h sslkey=/k.pem sslpassword=***"),
        ("env:WAREHOUSE_DSN", "env:WAREHOUSE_DSN"),
        # other engines: any URL's userinfo (even with an unencoded @), a file path
        ("mysql://root:p@S3cretPW@127.0.0.1:3306/shop", "mysql://root:***@127.0.0.1:3306/shop"),
        ("/data/warehouse.duckdb", "/data/warehouse.duckdb"),
        # unparseable: nothing of it is shown
        ("host=h password=abc S3cretPW", "*** (not a valid DSN)"),
        ("postgresql://u:pw@S3cretPW@h/db", "*** (not a valid DSN)"),
    ],
)
def test_mask_dsn_renders_what_libpq_parsed_without_the_password(dsn, masked):
    assert mask_dsn(dsn) == masked
    assert SECRET not in mask_dsn(dsn)


def test_a_masked_postgres_dsn_still_means_the_same_connection():
    dsn = "postgresql://etl:S3cretPW@h1:5,h2:6/w?sslmode=require&application_name=x"
    assert parse_dsn(mask_dsn(dsn)) == {**parse_dsn(dsn), "password": "***"}


def test_a_url_with_an_unencoded_at_in_its_password_is_refused_clearly():
    with pytest.raises(DsnError, match="percent-encode it as %40") as exc:
        parse_dsn("postgresql://etl:p@S3cretPW@db.internal/w")
    assert SECRET not in str(exc.value)
    assert parse_dsn("postgresql://etl:p%40S3cretPW@db.internal/w")["password"] == "p@S3cretPW"


def test_a_dsn_libpq_cannot_parse_is_refused_without_quoting_it():
    with pytest.raises(DsnError) as exc:
        parse_dsn("host=h password=abc S3cretPW")
    assert SECRET not in str(exc.value) and exc.value.__suppress_context__


@pytest.mark.parametrize(
    ("message", "dsn", "safe"),
    [
        # the DSN quoted whole is shown masked
        (
            "could not connect with postgresql://etl:S3cretPW@h/w",
            "postgresql://etl:S3cretPW@h/w",
            "could not connect with postgresql://etl:***@h/w",
        ),
        # the password alone, as parsed or as written
        (
            'FATAL: database "S3cretPW-db" does not exist',
            "host=h password=S3cretPW-db",
            'FATAL: database "***" does not exist',
        ),
        (r"bad value ab\'S3cretPW", r"host=h password='ab\'S3cretPW'", "bad value ***"),
        # a malformed DSN's fragments, as libpq quotes them
        (
            'missing "=" after "S3cretPW" in connection info string',
            "host=h password=abc S3cretPW",
            'missing "=" after "***" in connection info string',
        ),
        (
            "failed to resolve host 'S3cretPW@h'",
            "postgresql://u:pw@S3cretPW@h/db",
            "failed to resolve host '***'",
        ),
        # without a DSN: any URL masked, whatever follows password= cut
        (
            "webhook https://bot:S3cretPW@hooks.example/x failed",
            "",
            "webhook https://bot:***@hooks.example/x failed",
        ),
        (r"conninfo password=abc\ S3cretPW port=1", "", "conninfo password=***"),
        # another engine's URL: its password hidden, the rest of the message kept
        (
            "(1045, \"Access denied for user 'root'@'10.0.0.1' (password S3cretPW)\")",
            "mysql://root:S3cretPW@10.0.0.1:3306/shop",
            "(1045, \"Access denied for user 'root'@'10.0.0.1' (password ***)\")",
        ),
        # first line only: drivers put row values in DETAIL
        ("duplicate key\nDETAIL: Key (token)=(S3cretPW) exists", "", "duplicate key"),
    ],
)
def test_safe_message_hides_every_spelling_of_the_secret(message, dsn, safe):
    assert safe_message(Exception(message), dsn=dsn) == safe


def test_safe_message_hides_a_whole_message_quoting_a_short_password():
    assert safe_message(Exception("no such role pw"), dsn="host=h user=x password=pw") == (
        "Exception (message hidden: it quotes the connection's password)"
    )


def test_safe_message_of_an_empty_error_is_its_class_and_is_bounded():
    assert safe_message(TimeoutError()) == "TimeoutError"
    assert len(safe_message("x" * 1000, limit=50)) == 50
