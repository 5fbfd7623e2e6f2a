"""apply_overrides: the audited write path shared by admin, API and CLI."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from common.auth import TokenUser
from ledger.models import ApiToken
from registry.models import OverrideAudit, RegistryObject
from registry.overrides import OverrideError, apply_overrides, mark_reviewed
from tests.factories.registry import RegistryObjectFactory

pytestmark = pytest.mark.django_db


def test_changed_override_is_saved_and_audited_with_the_user(staff_user):
    obj = RegistryObjectFactory(is_expected=None)

    audits = apply_overrides(obj, {"is_expected": True}, user=staff_user, via="admin")

    obj.refresh_from_db()
    assert obj.is_expected is True
    (audit,) = OverrideAudit.objects.filter(object=obj)
    assert audits == [audit]
    assert (audit.field, audit.old_value, audit.new_value) == ("is_expected", None, "true")
    assert audit.changed_by == staff_user
    assert audit.changed_by_name == "staff"
    assert audit.via == "admin"


def test_unchanged_value_writes_no_audit_row(staff_user):
    obj = RegistryObjectFactory(is_critical=True, notes="keep")

    audits = apply_overrides(obj, {"is_critical": True, "notes": "keep"}, user=staff_user)

    assert audits == []
    assert not OverrideAudit.objects.exists()


def test_one_audit_row_per_changed_field(staff_user):
    obj = RegistryObjectFactory(health_enabled=None, notes="old", refresh_schedule=None)

    apply_overrides(
        obj,
        {"health_enabled": False, "notes": "new", "refresh_schedule": dt.timedelta(hours=6)},
        user=staff_user,
    )

    rows = {a.field: (a.old_value, a.new_value) for a in OverrideAudit.objects.filter(object=obj)}
    assert rows == {
        "health_enabled": (None, "false"),
        "notes": ("old", "new"),
        "refresh_schedule": (None, "06:00:00"),
    }


def test_non_override_field_is_refused_and_nothing_changes(staff_user):
    obj = RegistryObjectFactory(layer="RAW")

    with pytest.raises(OverrideError) as err:
        apply_overrides(obj, {"layer": "MV", "is_expected": True}, user=staff_user)

    assert err.value.fields == ["layer"]
    obj.refresh_from_db()
    assert (obj.layer, obj.is_expected) == ("RAW", None)
    assert not OverrideAudit.objects.exists()


def test_token_is_recorded_by_name():
    token, _ = ApiToken.issue("etl-bot", ApiToken.SCOPE_INGEST)
    obj = RegistryObjectFactory()

    apply_overrides(obj, {"notes": "from a token"}, user=TokenUser(token), via="api")

    audit = OverrideAudit.objects.get(object=obj)
    assert audit.changed_by is None
    assert audit.changed_by_name == "token:etl-bot"
    assert audit.via == "api"


def test_cli_actor_name_is_recorded():
    obj = RegistryObjectFactory()

    apply_overrides(obj, {"is_expected": False}, actor_name="cron@host", via="cli")

    assert OverrideAudit.objects.get(object=obj).changed_by_name == "cron@host"


def test_enabling_health_makes_a_normal_object_monitored(staff_user):
    obj = RegistryObjectFactory(criticality="normal", should_monitor=False)

    apply_overrides(obj, {"health_enabled": True}, user=staff_user)

    obj.refresh_from_db()
    assert obj.should_monitor is True
    assert obj.provenance["should_monitor"]["rule"] == "health_enabled override"


def test_disabling_health_stops_monitoring_even_an_important_object(staff_user):
    # Discovery's rule (registry.inference): an explicit health override decides.
    obj = RegistryObjectFactory(criticality="important", should_monitor=True, health_enabled=True)

    apply_overrides(obj, {"health_enabled": False}, user=staff_user)

    obj.refresh_from_db()
    assert obj.should_monitor is False


def test_clearing_health_falls_back_to_criticality(staff_user):
    normal = RegistryObjectFactory(criticality="normal", should_monitor=True, health_enabled=True)
    important = RegistryObjectFactory(criticality="important", should_monitor=False, health_enabled=False)

    apply_overrides(RegistryObject.objects.all(), {"health_enabled": None}, user=staff_user)

    assert RegistryObject.objects.get(pk=normal.pk).should_monitor is False
    assert RegistryObject.objects.get(pk=important.pk).should_monitor is True


def test_marking_critical_makes_an_object_monitored(staff_user):
    obj = RegistryObjectFactory(
        criticality="normal", should_monitor=False, provenance={"layer": {"value": "RAW"}}
    )

    apply_overrides(obj, {"is_critical": True}, user=staff_user)

    obj.refresh_from_db()
    assert obj.should_monitor is True
    assert obj.provenance["layer"] == {"value": "RAW"}  # the rest of the provenance is kept


def test_other_overrides_leave_should_monitor_alone(staff_user):
    obj = RegistryObjectFactory(criticality="normal", should_monitor=True)  # as discovery left it

    apply_overrides(obj, {"notes": "n", "is_expected": True}, user=staff_user)

    obj.refresh_from_db()
    assert obj.should_monitor is True


def test_changing_the_flagged_override_clears_needs_review_and_keeps_the_reason(staff_user):
    reason = "overridden as not expected but used by 3 endpoint and 0 script location(s): …"
    obj = RegistryObjectFactory(is_expected=False, needs_review=True, review_reason=reason)

    apply_overrides(obj, {"is_expected": True}, user=staff_user)

    obj.refresh_from_db()
    # The reason stays so discovery does not flag the same evidence again.
    assert (obj.needs_review, obj.review_reason) == (False, reason)


def test_changing_another_override_keeps_needs_review(staff_user):
    obj = RegistryObjectFactory(
        is_expected=False,
        is_critical=True,
        needs_review=True,
        review_reason="overridden as not expected but used by 1 endpoint and 0 script location(s)",
    )

    apply_overrides(obj, {"notes": "looking into it", "is_critical": None}, user=staff_user)

    obj.refresh_from_db()
    assert obj.needs_review is True


def test_a_reason_in_another_wording_is_cleared_by_any_flaggable_override(staff_user):
    obj = RegistryObjectFactory(health_enabled=False, needs_review=True, review_reason="contradicted")

    apply_overrides(obj, {"health_enabled": None}, user=staff_user)

    obj.refresh_from_db()
    assert obj.needs_review is False


def test_instance_passed_in_reflects_the_saved_values(staff_user):
    obj = RegistryObjectFactory(criticality="normal", health_enabled=None)

    apply_overrides(obj, {"health_enabled": True}, user=staff_user)

    assert obj.health_enabled is True
    assert obj.should_monitor is True


def test_queryset_update_is_bulk_with_constant_queries(staff_user, django_assert_num_queries):
    objs = RegistryObjectFactory.create_batch(30, is_expected=None)
    RegistryObjectFactory(is_expected=True)  # already expected: no audit row

    # SAVEPOINT, SELECT … FOR UPDATE, UPDATE (all changed rows), INSERT (all audit rows),
    # RELEASE SAVEPOINT
    with django_assert_num_queries(5):
        audits = apply_overrides(RegistryObject.objects.all(), {"is_expected": True}, user=staff_user)

    assert len(audits) == 30
    assert set(OverrideAudit.objects.values_list("object_id", flat=True)) == {o.pk for o in objs}
    assert not RegistryObject.objects.exclude(is_expected=True).exists()


def test_mark_reviewed_clears_the_flag_keeps_overrides_and_audits(staff_user, django_assert_num_queries):
    reason = "overridden as not expected but used by 1 endpoint and 0 script location(s)"
    flagged = RegistryObjectFactory.create_batch(
        3, is_expected=False, needs_review=True, review_reason=reason
    )
    calm = RegistryObjectFactory(needs_review=False)

    # SAVEPOINT, SELECT … FOR UPDATE, UPDATE, INSERT audit rows, RELEASE SAVEPOINT
    with django_assert_num_queries(5):
        audits = mark_reviewed(RegistryObject.objects.all(), user=staff_user)

    assert {a.object_id for a in audits} == {o.pk for o in flagged}
    assert {(a.field, a.old_value, a.new_value) for a in audits} == {("needs_review", "true", "false")}
    for obj in RegistryObject.objects.filter(pk__in=[o.pk for o in flagged]):
        assert (obj.needs_review, obj.is_expected, obj.review_reason) == (False, False, reason)
    assert not OverrideAudit.objects.filter(object=calm).exists()


def test_query_count_does_not_grow_with_rows_of_mixed_state(staff_user):
    def objects(n: int) -> None:
        for criticality in ("critical", "important", "normal"):
            RegistryObjectFactory.create_batch(n, criticality=criticality, health_enabled=True)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            apply_overrides(RegistryObject.objects.all(), {"health_enabled": None}, user=staff_user)
        return len(ctx.captured_queries)

    objects(2)
    few = queries()
    RegistryObject.objects.update(health_enabled=True)
    objects(20)

    # SAVEPOINT, SELECT … FOR UPDATE, one UPDATE per resulting should_monitor state
    # (critical, important: monitored; normal: not), INSERT audit rows, RELEASE
    assert queries() == few == 7
    monitored = dict(RegistryObject.objects.values_list("criticality", "should_monitor").distinct())
    assert monitored == {"critical": True, "important": True, "normal": False}


@pytest.mark.parametrize(
    ("criticality", "is_critical", "expected"),
    [("critical", None, True), ("normal", None, False), ("critical", False, False), ("normal", True, True)],
)
def test_effective_criticality_is_one_stored_rule(staff_user, criticality, is_critical, expected):
    obj = RegistryObjectFactory(criticality=criticality)
    apply_overrides(obj, {"is_critical": is_critical}, user=staff_user, via="admin")

    assert obj.effective_critical is expected
    assert RegistryObject.objects.get(pk=obj.pk).effective_critical is expected
    assert RegistryObject.objects.filter(pk=obj.pk, effective_critical=expected).exists()
