"""Filters of the registry list, shared by the API (FilterSet) and the admin (has override).

Invalid values are errors, not silently ignored: `?should_monitor=maybe` or
`?criticality=urgent` answers 400 naming the field.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError

from common.filters import NULL, FilterSet, StrictBooleanFilter, StrictNullBooleanField
from common.identifiers import InvalidName, split_identifier
from registry.models import CRITICALITIES, LAYERS, OBJECT_TYPES, ROLES, RegistryObject, Source


def has_override_q() -> Q:
    """Objects with at least one manual override set (NULL/blank = no override)."""
    return (
        Q(health_enabled__isnull=False)
        | Q(is_expected__isnull=False)
        | Q(is_critical__isnull=False)
        | Q(refresh_schedule__isnull=False)
        | Q(max_staleness__isnull=False)
        | ~Q(description="")
        | ~Q(notes="")
    )


class OverrideFilter(django_filters.Filter):
    """A nullable override: true, false, or null (= no override set)."""

    field_class = StrictNullBooleanField

    def filter(self, qs: QuerySet, value):
        if value is None:
            return qs
        if value == NULL:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        return qs.filter(**{self.field_name: value})


class RegistryObjectFilter(FilterSet):
    source = django_filters.ModelChoiceFilter(
        field_name="source",
        to_field_name="name",
        queryset=Source.objects.all(),
        help_text="source name",
    )
    schema_name = django_filters.CharFilter()
    object_name = django_filters.CharFilter()
    qualified_name = django_filters.CharFilter(method="filter_qualified_name", help_text="schema.object")
    object_type = django_filters.ChoiceFilter(choices=OBJECT_TYPES)
    layer = django_filters.ChoiceFilter(choices=LAYERS)
    role = django_filters.ChoiceFilter(choices=ROLES)
    criticality = django_filters.ChoiceFilter(choices=CRITICALITIES)
    should_monitor = StrictBooleanFilter()
    exists_in_db = StrictBooleanFilter()
    needs_review = StrictBooleanFilter()
    health_enabled = OverrideFilter(help_text="true, false, or null (no override)")
    is_expected = OverrideFilter(help_text="true, false, or null (no override)")
    is_critical = OverrideFilter(help_text="true, false, or null (no override)")
    has_override = StrictBooleanFilter(method="filter_has_override", help_text="any override set")

    class Meta:
        model = RegistryObject
        fields: list[str] = []

    def filter_qualified_name(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        try:
            parts = split_identifier(value)
        except InvalidName as exc:
            raise ValidationError({name: [str(exc)]}) from None
        if len(parts) != 2:
            raise ValidationError({name: ["Name the object as schema.object."]})
        return qs.filter(schema_name=parts[0], object_name=parts[1])

    def filter_has_override(self, qs: QuerySet, name: str, value: bool) -> QuerySet:
        return qs.filter(has_override_q()) if value else qs.exclude(has_override_q())
