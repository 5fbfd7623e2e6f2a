"""Strict filtering: a filter value, an ordering or a page parameter the endpoint cannot
honour is a 400 naming it, never silently ignored (a script that then PATCHes
`results[0]` would edit the wrong row)."""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, pagination
from rest_framework.exceptions import ValidationError

TRUE_VALUES = frozenset({"true", "1", "yes"})
FALSE_VALUES = frozenset({"false", "0", "no"})
NULL_VALUES = frozenset({"null", "none"})
NULL = "null"
# The largest offset PostgreSQL takes (a bigint); limits are far smaller.
MAX_OFFSET = 2**63 - 1


class StrictBooleanField(forms.Field):
    """true/false (1/0, yes/no); anything else is a validation error.

    Django's NullBooleanField maps junk to None, which would silently drop the filter.
    """

    allow_null = False

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        if self.allow_null and text in NULL_VALUES:
            return NULL
        allowed = "true, false or null" if self.allow_null else "true or false"
        raise forms.ValidationError(f"Enter {allowed}, not {value!r}.", code="invalid")


class StrictNullBooleanField(StrictBooleanField):
    allow_null = True


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class FilterSet(django_filters.FilterSet):
    """django-filter's, with booleans that refuse junk (`?is_active=maybe` is a 400)."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
        models.NullBooleanField: {"filter_class": StrictBooleanFilter},
    }


class FilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend whose `filterset_fields` FilterSets are strict ones."""

    filterset_base = FilterSet


class SearchFilter(filters.SearchFilter):
    """DRF's, whose `search` parameter the schema documents only where the view searches
    (elsewhere it is an unknown parameter, a 400)."""

    def get_schema_operation_parameters(self, view) -> list:
        return super().get_schema_operation_parameters(view) if self.get_search_fields(view, None) else []


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=` naming a field the endpoint does not order by is a 400 naming it."""

    def get_ordering(self, request, queryset, view):
        text = request.query_params.get(self.ordering_param)
        if text is None:
            return self.get_default_ordering(view)
        terms = [term.strip() for term in text.split(",") if term.strip()]
        valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
        invalid = [term for term in terms if term.removeprefix("-") not in valid]
        if invalid or not terms:
            choices = ", ".join(sorted(valid)) or "none"
            raise ValidationError(
                {self.ordering_param: [f"Cannot order by {text!r}; fields: {choices} (prefix - to reverse)."]}
            )
        return terms


def integer_param(request, name: str, default: int, low: int, high: int | None = None) -> int:
    """Query parameter `name` as an integer of at least `low` (and at most `high`),
    `default` when absent; a 400 naming it otherwise."""
    text = request.query_params.get(name)
    if text is None:
        return default
    value = int(text) if re.fullmatch(r"[0-9]{1,100}", text) else None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValidationError({name: [f"Must be an integer {bounds}."]})
    return value


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """`limit` and `offset` are integers or a 400 naming them (DRF falls back to the
    default on junk); a limit above `max_limit` is cut to it, an offset PostgreSQL's
    bigint cannot hold is a 400, not a database error."""

    max_limit = 1000

    def get_limit(self, request) -> int:
        limit = integer_param(request, self.limit_query_param, self.default_limit, 1)
        return min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        return integer_param(request, self.offset_query_param, 0, 0, MAX_OFFSET)
