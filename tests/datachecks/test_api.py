"""`/api/v1/data-checks`: CRUD for the admin scope and staff, the latest status, the
results history (cursor-paginated) and the trend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from checks.datachecks.models import DataCheck
from checks.datachecks.runner import run_checks
from tests.factories.checks import DataCheckFactory
from tests.factories.registry import RegistryObjectFactory, SourceFactory

URL = "/api/v1/data-checks"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EXAMPLE = {
    "object": "raw.candles",
    "kind": "unique",
    "params": {"columns": ["symbol", "day"]},
    "severity": "error",
}


def test_the_issue_example_creates_a_check_and_the_list_shows_its_latest_status(admin_token_client, candles):
    created = admin_token_client.post(URL, EXAMPLE, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["object"], body["kind"], body["name"], body["status"]) == (
        "raw.candles",
        "unique",
        "unique_symbol_day",
        None,
    )
    assert (body["origin"], body["schedule"], body["enabled"], body["source_name"]) == (
        "api",
        "0 * * * *",
        True,
        "defects",
    )
    with time_machine.travel(NOW, tick=False):
        run_checks(DataCheck.objects.with_latest())
    (row,) = admin_token_client.get(URL).json()["results"]
    assert (row["id"], row["object"], row["kind"], row["status"]) == (
        body["id"],
        "raw.candles",
        "unique",
        "fail",
    )
    assert row["last_checked_at"] == "2026-12-01T12:00:00Z"
    assert admin_token_client.get(URL, {"status": "fail"}).json()["count"] == 1
    assert admin_token_client.get(URL, {"status": "pass"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("client_name", "expected"),
    [
        ("admin_token_client", 201),
        ("staff_client", 201),
        ("read_client", 403),
        ("ingest_client", 403),
        ("anon_client", 401),
    ],
)
def test_writes_need_the_admin_scope_or_staff(request, candles, client_name, expected):
    client = request.getfixturevalue(client_name)
    assert client.post(URL, EXAMPLE, format="json").status_code == expected


def test_reads_need_any_authentication(read_client, anon_client, candles):
    DataCheckFactory(object=candles)
    assert read_client.get(URL).json()["count"] == 1
    assert anon_client.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({**EXAMPLE, "params": {"columns": []}}, "params", "columns: a list of column names is required."),
        ({**EXAMPLE, "kind": "uniq"}, "kind", '"uniq" is not a valid choice.'),
        ({**EXAMPLE, "object": "raw.nothing"}, "object", "'raw.nothing': no such object in the registry"),
        ({**EXAMPLE, "object": "candles"}, "object", "name the object as schema.name"),
        ({**EXAMPLE, "schedule": "hourly"}, "schedule", "'hourly' is not a cron expression"),
        ({**EXAMPLE, "where": "1=1; DROP TABLE raw.candles"}, "where", "without ';'"),
    ],
)
def test_bad_input_is_a_400_with_the_field_and_nothing_is_saved(
    staff_client, candles, payload, field, message
):
    response = staff_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert message in response.json()[field][0]
    assert not DataCheck.objects.exists()


def test_a_second_check_of_the_same_name_on_the_object_is_refused(staff_client, candles):
    assert staff_client.post(URL, EXAMPLE, format="json").status_code == 201
    response = staff_client.post(URL, EXAMPLE, format="json")
    assert (
        response.status_code == 400
        and "already has a check named 'unique_symbol_day'" in response.json()["name"][0]
    )


def test_an_edit_changes_the_definition_hash(staff_client, candles):
    check = DataCheckFactory(object=candles, kind="row_count", params={"min": 1})
    before = check.definition_hash
    response = staff_client.patch(f"{URL}/{check.pk}", {"params": {"min": 5}}, format="json")
    assert response.status_code == 200 and response.json()["definition_hash"] != before


def test_checks_from_a_file_are_read_only(staff_client, candles):
    check = DataCheckFactory(object=candles, origin="file", file_path="demo/app/opshealth.yml")
    response = staff_client.patch(f"{URL}/{check.pk}", {"enabled": False}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "Defined in demo/app/opshealth.yml: change the file, then reload it."
    assert staff_client.delete(f"{URL}/{check.pk}").status_code == 409
    assert DataCheck.objects.get(pk=check.pk).enabled


def test_results_are_a_cursor_paginated_history_newest_first(read_client, candles):
    check = DataCheckFactory(object=candles, kind="row_count", params={"min": 1})
    for hours in range(3):
        with time_machine.travel(NOW + timedelta(hours=hours), tick=False):
            run_checks([check])
    first = read_client.get(f"{URL}/{check.pk}/results", {"limit": 2}).json()
    assert [r["checked_at"] for r in first["results"]] == ["2026-12-01T14:00:00Z", "2026-12-01T13:00:00Z"]
    row = first["results"][0]
    assert (row["status"], row["observed"], row["threshold"], row["failing_count"]) == (
        "pass",
        60,
        {"min": 1},
        None,
    )
    assert row["definition_hash"] == check.definition_hash and len(row["sql_hash"]) == 16
    second = read_client.get(first["next"]).json()
    assert [r["checked_at"] for r in second["results"]] == ["2026-12-01T12:00:00Z"] and second["next"] is None


def test_a_result_s_samples_keep_the_table_s_column_order(read_client, candles):
    check = DataCheckFactory(object=candles, kind="no_negative", params={"column": "close"})
    with time_machine.travel(NOW, tick=False):
        run_checks([check])
    (row,) = read_client.get(f"{URL}/{check.pk}/results").json()["results"]
    assert row["samples"] == {
        "columns": ["seq", "symbol", "day", "close", "status", "loaded_at"],
        "rows": [[20, "AAA", "2026-11-20", "-1.00", "ok", "2026-11-21T06:00:00+00:00"]],
    }


def test_the_trend_is_the_pass_rate_per_day(read_client, candles):
    check = DataCheckFactory(object=candles, kind="row_count", params={"min": 1})
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        run_checks([check])
    check.params = {"min": 100}
    check.save()
    for hours in (0, 1):
        with time_machine.travel(NOW + timedelta(hours=hours), tick=False):
            run_checks([check])
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        trend = read_client.get(f"{URL}/{check.pk}/trend", {"days": 7}).json()
    assert trend == [
        {
            "day": "2026-11-30",
            "runs": 1,
            "passed": 1,
            "failed": 0,
            "errors": 0,
            "skipped": 0,
            "pass_rate": 1.0,
        },
        {
            "day": "2026-12-01",
            "runs": 2,
            "passed": 0,
            "failed": 2,
            "errors": 0,
            "skipped": 0,
            "pass_rate": 0.0,
        },
    ]
    assert read_client.get(f"{URL}/{check.pk}/trend", {"days": "a"}).status_code == 400


def test_the_trend_s_pass_rate_is_of_judged_results_and_leaves_out_days_of_skips(read_client, candles):
    """A row_count change without its baseline yet is a skip: no pass, no failure."""
    check = DataCheckFactory(object=candles, kind="row_count", params={"change_pct": 20})
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        assert run_checks([check]).results[0].outcome.status == "skip"
    check.params = {"change_pct": 20, "min": 1}
    check.save()
    for hours in (0, 1):  # a pass (min) and a skip (change) each time: judged
        with time_machine.travel(NOW + timedelta(hours=hours), tick=False):
            run_checks([check])
    check.params = {"change_pct": 20}
    check.save()
    with time_machine.travel(NOW + timedelta(hours=2), tick=False):
        run_checks([check])
        trend = read_client.get(f"{URL}/{check.pk}/trend", {"days": 7}).json()
    assert trend == [
        {
            "day": "2026-12-01",
            "runs": 3,
            "passed": 2,
            "failed": 0,
            "errors": 0,
            "skipped": 1,
            "pass_rate": 1.0,
        }
    ]


def test_unknown_query_parameters_are_refused(read_client, candles):
    check = DataCheckFactory(object=candles)
    response = read_client.get(URL, {"kindd": "unique"})
    assert response.status_code == 400 and list(response.json()) == ["kindd"]
    assert read_client.get(f"{URL}/{check.pk}/results", {"days": 3}).status_code == 400
    assert read_client.get(URL, {"object": "raw.candles", "kind": "row_count"}).json()["count"] == 1


def test_the_list_costs_the_same_queries_for_one_check_or_many(
    read_client, candles, django_assert_num_queries
):
    DataCheckFactory(object=candles)
    with time_machine.travel(NOW, tick=False):
        run_checks(DataCheck.objects.with_latest())
    read_client.get(URL)  # the token's last use is recorded once a minute: not in the count
    # token lookup, COUNT(*), the page (checks with their object, source and latest result)
    with django_assert_num_queries(3):
        assert read_client.get(URL).status_code == 200
    for n in range(5):
        DataCheckFactory(object=candles, name=f"more_{n}")
    with time_machine.travel(NOW, tick=False):
        run_checks(DataCheck.objects.with_latest())
    with django_assert_num_queries(3):
        assert len(read_client.get(URL).json()["results"]) == 6


def test_a_monotonic_check_on_a_mysql_source_needs_an_order(staff_client, db):
    """InnoDB rows have no order of their own: refused when saved, not an error at each run."""
    source = SourceFactory(name="shop", engine="mysql", dsn="mysql://etl@127.0.0.1:3306/shop")
    RegistryObjectFactory(source=source, schema_name="shop", object_name="orders")
    payload = {"object": "shop.orders", "kind": "monotonic", "params": {"column": "created_at"}}
    response = staff_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["params"] == [
        "order_by: required on a MySQL / MariaDB source: its rows have no order of their own."
    ]
    assert not DataCheck.objects.exists()
    ordered = {**payload, "params": {"column": "created_at", "order_by": ["id"]}}
    assert staff_client.post(URL, ordered, format="json").status_code == 201
