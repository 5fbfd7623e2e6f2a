"""`/api/v1/alerts/*`: rules, channels, silences, maintenance windows (reads for any
authenticated caller, writes for the `admin` scope and staff), incidents with their
actions, and every delivery attempt.

Views are thin: fetch → permission → model verb → serializer.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from checks.alerts import serializers as s
from checks.alerts.models import AlertRule, Channel, Delivery, Incident, MaintenanceWindow, Silence
from common.api import StrictViewMixin
from common.auth import ReadOrAdmin
from common.filters import FilterSet, StrictBooleanFilter


def _by_id_or_name(field: str):
    """A filter taking an id or a name (natural key)."""

    def method(queryset, _name, value):
        value = value.strip()
        if value.isdigit():
            return queryset.filter(**{f"{field}_id": int(value)})
        return queryset.filter(**{f"{field}__name": value})

    return method


class RuleFilter(FilterSet):
    kind = django_filters.CharFilter()
    enabled = StrictBooleanFilter()
    severity = django_filters.CharFilter()

    class Meta:
        model = AlertRule
        fields = ["kind", "enabled", "severity"]


class ChannelFilter(FilterSet):
    kind = django_filters.CharFilter()
    enabled = StrictBooleanFilter()
    broken = StrictBooleanFilter(field_name="broken_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Channel
        fields = ["kind", "enabled", "broken"]


class IncidentFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=Incident.STATES)
    severity = django_filters.CharFilter()
    rule = django_filters.CharFilter(method=_by_id_or_name("rule"), help_text="id or name")
    subject = django_filters.CharFilter(method="by_subject", help_text="the subject, exactly or a part of it")
    quiet_reason = django_filters.CharFilter()
    unresolved = StrictBooleanFilter(field_name="resolved_at", lookup_expr="isnull")

    class Meta:
        model = Incident
        fields = ["state", "severity", "rule", "subject", "quiet_reason", "unresolved"]

    def by_subject(self, queryset, _name, value):
        return queryset.filter(Q(subject=value) | Q(subject__icontains=value))


class DeliveryFilter(FilterSet):
    channel = django_filters.CharFilter(method=_by_id_or_name("channel"), help_text="id or name")
    outcome = django_filters.CharFilter()
    incident = django_filters.NumberFilter(field_name="notification__incident")
    notification = django_filters.NumberFilter()
    is_test = StrictBooleanFilter()

    class Meta:
        model = Delivery
        fields = ["channel", "outcome", "incident", "notification", "is_test"]


class SilenceFilter(FilterSet):
    active = StrictBooleanFilter(method="by_active")

    class Meta:
        model = Silence
        fields = ["active", "rule"]

    def by_active(self, queryset, _name, value):
        now = timezone.now()
        active = Q(starts_at__lte=now, ends_at__gt=now)
        return queryset.filter(active) if value else queryset.exclude(active)


def _actor(request) -> str:
    return str(request.user)


@extend_schema_view(
    list=extend_schema(summary="Alert rules", tags=["alerts"]),
    create=extend_schema(summary="Add an alert rule (admin)", tags=["alerts"]),
)
class RuleViewSet(StrictViewMixin, viewsets.ModelViewSet):
    queryset = AlertRule.objects.prefetch_related("channels")
    serializer_class = s.AlertRuleSerializer
    permission_classes = [ReadOrAdmin]
    filterset_class = RuleFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name"]


@extend_schema_view(list=extend_schema(summary="Channels (targets never returned)", tags=["alerts"]))
class ChannelViewSet(StrictViewMixin, viewsets.ModelViewSet):
    queryset = Channel.objects.all()
    serializer_class = s.ChannelSerializer
    permission_classes = [ReadOrAdmin]
    filterset_class = ChannelFilter
    search_fields = ["name"]
    ordering_fields = ["name", "id"]
    ordering = ["name"]

    @extend_schema(summary="Send a test message now (admin)", request=None, responses=s.DeliverySerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def test(self, request, pk=None):
        channel = self.get_object()
        delivery = channel.send_test(by=_actor(request))
        return Response(s.DeliverySerializer(delivery).data)


@extend_schema_view(list=extend_schema(summary="Silences", tags=["alerts"]))
class SilenceViewSet(StrictViewMixin, viewsets.ModelViewSet):
    queryset = Silence.objects.select_related("rule")
    serializer_class = s.SilenceSerializer
    permission_classes = [ReadOrAdmin]
    filterset_class = SilenceFilter
    ordering_fields = ["ends_at", "starts_at", "id"]
    ordering = ["-ends_at", "-id"]

    def perform_create(self, serializer):
        user = self.request.user
        serializer.save(
            created_by=user if getattr(user, "pk", None) else None, created_by_name=_actor(self.request)
        )


@extend_schema_view(list=extend_schema(summary="Recurring maintenance windows", tags=["alerts"]))
class MaintenanceWindowViewSet(StrictViewMixin, viewsets.ModelViewSet):
    queryset = MaintenanceWindow.objects.select_related("rule")
    serializer_class = s.MaintenanceWindowSerializer
    permission_classes = [ReadOrAdmin]
    ordering_fields = ["name", "id"]
    ordering = ["name"]


@extend_schema_view(
    list=extend_schema(summary="Incidents, unresolved first", tags=["alerts"]),
    retrieve=extend_schema(summary="One incident with its timeline", tags=["alerts"]),
)
class IncidentViewSet(StrictViewMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [ReadOrAdmin]
    filterset_class = IncidentFilter
    ordering_fields = ["opened_at", "last_seen_at", "resolved_at", "id"]

    def get_queryset(self):
        qs = Incident.objects.inbox()
        if self.action == "retrieve":
            qs = qs.prefetch_related("events", "suppresses")
        return qs

    def get_serializer_class(self):
        return s.IncidentDetailSerializer if self.action == "retrieve" else s.IncidentSerializer

    def _act(self, verb, **kwargs) -> Response:
        incident = self.get_object()
        try:
            verb(incident, by=_actor(self.request), **kwargs)
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        incident.refresh_from_db()
        return Response(s.IncidentDetailSerializer(incident).data)

    @extend_schema(summary="Acknowledge: repeats stop until the timeout", request=s.AcknowledgeSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def acknowledge(self, request, pk=None):
        body = s.AcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "pk", None) else None
        return self._act(
            Incident.acknowledge,
            user=user,
            note=body.validated_data["note"],
            timeout=body.validated_data.get("timeout"),
        )

    @extend_schema(summary="Snooze until a time (at most 7 days ahead)", request=s.SnoozeSerializer)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def snooze(self, request, pk=None):
        body = s.SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(Incident.snooze, until=body.validated_data["until"])

    @extend_schema(summary="Resolve by hand (no recovery message)", request=None)
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def resolve(self, request, pk=None):
        return self._act(Incident.resolve)


@extend_schema_view(list=extend_schema(summary="Every delivery attempt, newest first", tags=["alerts"]))
class DeliveryViewSet(
    StrictViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Delivery.objects.select_related("channel", "notification").order_by("-attempted_at", "-id")
    serializer_class = s.DeliverySerializer
    permission_classes = [ReadOrAdmin]
    filterset_class = DeliveryFilter
    ordering_fields = ["attempted_at", "id"]
