"""One identifier toolkit: the splitter of dotted names (strict and lenient) and quoting."""

import pytest
from django.db import connection

from common.identifiers import InvalidName, qualified, quoted, split_identifier


def test_strict_split_folds_unquoted_parts_and_keeps_quoted_ones():
    assert split_identifier('DB.Raw."CamelCaseImport"') == ["db", "raw", "CamelCaseImport"]
    assert split_identifier('public."Daily.Stats"') == ["public", "Daily.Stats"]


@pytest.mark.parametrize("bad", ['raw."open', "raw..orders", '"a"b'])
def test_strict_split_refuses_what_is_no_identifier(bad):
    with pytest.raises(InvalidName):
        split_identifier(bad)


@pytest.mark.parametrize(
    ("key", "parts"), [('raw."open', ["raw", "open"]), ("raw..orders", ["raw", "", "orders"]), ("", [""])]
)
def test_lenient_split_never_raises(key, parts):
    assert split_identifier(key, strict=False) == parts


def test_quoting_goes_through_psycopg(db):
    with connection.cursor() as cursor:
        rendered = qualified("raw", 'Daily"Stats').as_string(cursor.connection)
    assert rendered == '"raw"."Daily""Stats"' == quoted("raw", 'Daily"Stats')
