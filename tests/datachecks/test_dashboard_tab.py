"""The Data checks page (`/ops/health?tab=data-checks`): each check's status worst first,
its pass-rate sparkline, its failing samples, and one check's recent results."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from checks.datachecks.models import DataCheck, DefinitionFile
from checks.datachecks.runner import run_checks
from tests.factories.checks import DataCheckFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
URL = "/ops/health?tab=data-checks"


@pytest.fixture
def page(viewer_user, candles):
    DataCheckFactory(object=candles, name="candles_rows", kind="row_count", params={"min": 1})
    DataCheckFactory(
        object=candles, name="candles_unique", kind="unique", params={"columns": ["symbol", "day"]}
    )
    DataCheckFactory(object=candles, name="candles_new", enabled=False)
    # Tuesday, Monday: no result on the same weekday yet, nothing to compare with.
    DataCheckFactory(object=candles, name="candles_change", kind="row_count", params={"change_pct": 20})
    for days in (1, 0):
        with time_machine.travel(NOW - timedelta(days=days), tick=False):
            run_checks(DataCheck.objects.with_latest().filter(enabled=True))
    client = Client()
    client.force_login(viewer_user)
    return client


def test_lists_every_check_worst_first_with_its_sparkline_and_samples(page, django_assert_max_num_queries):
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(8):
        html = page.get(URL).content.decode()
    assert "0 could not run, 1 failing, 1 skipped, 1 passing, 1 never run." in html
    assert html.index("candles_unique") < html.index("candles_change") < html.index("candles_rows")
    assert html.index("candles_unique") < html.index("candles_new") < html.index("candles_rows")
    assert '<span class="pill info">skip</span>' in html
    assert "1 of 60 row(s) repeat a (symbol, day) key of an earlier row." in html
    # the failing sample, its columns in the query's order (symbol, day, occurrences)
    assert (
        "<tr><th>symbol</th><th>day</th><th>occurrences</th></tr><tr><td>AAA</td><td>2026-11-10</td><td>2</td></tr>"
        in html
    )
    # the skipped check's days had no judged result: an empty sparkline, still drawn
    assert html.count('class="chart sparkline"') == 4


def test_filters_by_status_and_refuses_what_it_cannot_use(page):
    with time_machine.travel(NOW, tick=False):
        html = page.get(URL + "&status=fail").content.decode()
        assert "candles_unique" in html and "candles_rows" not in html
        html = page.get(URL + "&status=skip").content.decode()
        assert "candles_change" in html and "candles_unique" not in html
        assert page.get(URL + "&status=broken").status_code == 400
        assert page.get(URL + "&check=x").status_code == 400
        assert page.get(URL + "&colour=red").status_code == 400


def test_one_check_shows_its_recent_results(page):
    check = DataCheck.objects.get(name="candles_unique")
    with time_machine.travel(NOW, tick=False):
        html = page.get(f"{URL}&check={check.pk}").content.decode()
    assert html.count("2026-12-01 12:00") == 1 and html.count("2026-11-30 12:00") == 1
    assert "unique {&#x27;columns&#x27;: [&#x27;symbol&#x27;, &#x27;day&#x27;]}" in html
    assert 'class="chart sparkline"' in html


def test_a_file_that_did_not_load_is_shown_with_its_problems(page):
    DefinitionFile.record(
        "app/opshealth.yml", "defects", DefinitionFile.FAILED, "app/opshealth.yml: check 1: kind: unknown"
    )
    DefinitionFile.record(
        "etl/opshealth.yml", "defects", DefinitionFile.LOADED, "etl/opshealth.yml: 1 created"
    )
    with time_machine.travel(NOW, tick=False):
        html = page.get(URL).content.decode()
    assert '<span class="pill error">not loaded</span> app/opshealth.yml' in html
    assert "<pre>app/opshealth.yml: check 1: kind: unknown</pre>" in html
    assert "etl/opshealth.yml" not in html


def test_the_page_is_cached_until_a_check_is_edited_run_or_loaded(page, django_assert_max_num_queries):
    """Served from the cache (the header's queries and the state's), and recomputed at
    once after an edit, a run (which writes checks in bulk, no updated_at) or a file's
    load."""

    def without_tokens(html: str) -> str:  # each response masks its CSRF token anew
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)

    with time_machine.travel(NOW, tick=False):
        first = page.get(URL).content.decode()
        with django_assert_max_num_queries(4):  # session, user, evaluation, state
            assert without_tokens(page.get(URL).content.decode()) == without_tokens(first)
        check = DataCheck.objects.get(name="candles_rows")
        DataCheck.objects.filter(pk=check.pk).update(name="candles_rows_renamed")  # no save()
        assert "candles_rows_renamed" in page.get(URL).content.decode()
        check = DataCheck.objects.get(name="candles_unique")
        check.params = {"columns": ["seq"]}
        check.save()
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        run_checks([DataCheck.objects.with_latest().get(pk=check.pk)])
        html = page.get(URL).content.decode()
        assert "0 could not run, 0 failing, 1 skipped, 2 passing, 1 never run." in html
        DefinitionFile.record(
            "app/opshealth.yml", "defects", DefinitionFile.FAILED, "app/opshealth.yml: check 1: kind: unknown"
        )
        assert "app/opshealth.yml: check 1: kind: unknown" in page.get(URL).content.decode()
