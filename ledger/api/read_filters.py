"""FilterSets of the ledger's read endpoints: invalid filter values answer 400."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db.models import Q
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError

from common.filters import FilterSet
from ledger.bounds import representable
from ledger.models import CheckResult, Client, Pipeline, Run, Watermark


class TimeField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is not None and not representable(parsed):
            # 0001-01-01T00:00:00+14:00 is before the year 1 in UTC: no query can name it.
            raise forms.ValidationError(f"{value} is out of range.", code="out_of_range")
        return parsed


class TimeFilter(filters.IsoDateTimeFilter):
    field_class = TimeField


class ClientFilter(FilterSet):
    class Meta:
        model = Client
        fields = {"name": ["exact", "icontains"]}


class PipelineFilter(FilterSet):
    client = filters.ModelChoiceFilter(queryset=Client.objects.all())

    class Meta:
        model = Pipeline
        fields = {"namespace": ["exact"], "name": ["exact", "icontains"], "owner": ["exact"]}


class PipelineKeyFilter(filters.CharFilter):
    """A pipeline by id, name or `namespace/name`; a 400 when none or several match."""

    def filter(self, qs, value):
        if not value:
            return qs
        found = list(Pipeline.objects.by_key(value.strip())[:5])
        if not found:
            raise ValidationError({self.field_name: [f"No pipeline {value!r}."]})
        if len(found) > 1:
            names = ", ".join(sorted(f"{p.namespace}/{p.name}" for p in found))
            raise ValidationError({self.field_name: [f"{value!r} is ambiguous: name one of {names}."]})
        return qs.filter(**{self.field_name: found[0]})


class RunFilter(FilterSet):
    pipeline = PipelineKeyFilter(help_text="a pipeline id, name, or namespace/name")
    client = filters.ModelChoiceFilter(field_name="pipeline__client", queryset=Client.objects.all())
    status = filters.MultipleChoiceFilter(choices=Run.STATUSES)
    started_after = TimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = TimeFilter(field_name="started_at", lookup_expr="lt")
    triggered_by = filters.ChoiceFilter(choices=Run.TRIGGERS)

    class Meta:
        model = Run
        fields = ["pipeline", "client", "status", "started_after", "started_before", "triggered_by"]


class WatermarkFilter(FilterSet):
    asset_key = filters.CharFilter(method="filter_asset")

    class Meta:
        model = Watermark
        fields = ["asset_key", "scope_key"]

    def filter_asset(self, queryset, name, value):
        # As received or in its normalized form (ledger keys are stored both ways).
        return queryset.filter(Q(asset_key=value) | Q(normalized_key=value))


class CheckResultFilter(FilterSet):
    asset_key = filters.CharFilter(method="filter_asset")
    status = filters.MultipleChoiceFilter(choices=CheckResult.STATUSES)
    severity = filters.MultipleChoiceFilter(choices=CheckResult.SEVERITIES)
    checked_after = TimeFilter(field_name="checked_at", lookup_expr="gte")
    checked_before = TimeFilter(field_name="checked_at", lookup_expr="lt")
    run = filters.UUIDFilter(field_name="run__run_id")

    class Meta:
        model = CheckResult
        fields = ["asset_key", "check_name", "status", "severity", "partition_key", "run"]

    def filter_asset(self, queryset, name, value):
        # As received or in its normalized form (ledger keys are stored both ways).
        return queryset.filter(Q(asset_key=value) | Q(normalized_key=value))
