"""`/api/v1/actions` (rerun a job now; checks/actions.py) and `/api/v1/retry-policies` (the
control loop's per-object overrides; checks/retry.py). Staff only: an `admin` token or a
staff session, for reads too (who asked for what is audit data)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from checks import actions, retry
from checks.models import Action, RetryPolicy
from common.api import DurationField, StrictViewMixin
from common.auth import IsAdmin
from common.filters import FilterSet


class ActionRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=sorted(actions.ACTIONS))
    target = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="discover: a source id or name; refresh: a registry object id, 'schema.name' or "
        "'source:schema.name'; evaluate: none",
    )


class ActionRunSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    pipeline = serializers.CharField(source="pipeline.name")
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


class ActionSerializer(serializers.ModelSerializer):
    action = serializers.CharField(source="kind")
    run = ActionRunSerializer(allow_null=True)
    parent_run = serializers.UUIDField(source="parent_run.run_id", allow_null=True, default=None)

    class Meta:
        model = Action
        fields = [
            "id",
            "action",
            "target",
            "state",
            "requested_by_name",
            "via",
            "requested_at",
            "not_before",
            "started_at",
            "finished_at",
            "outcome",
            "run",
            "attempt",
            "parent_run",
        ]
        read_only_fields = fields


class ActionFilter(FilterSet):
    action = django_filters.CharFilter(field_name="kind")

    class Meta:
        model = Action
        fields = ["state", "via", "target"]


class ActionViewSet(
    StrictViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """POST queues an action (202, or 200 with the one already queued or running)."""

    permission_classes = [IsAdmin]
    serializer_class = ActionSerializer
    filterset_class = ActionFilter
    search_fields = None
    ordering_fields = ["requested_at"]

    def get_queryset(self):
        return Action.objects.select_related("run__pipeline", "parent_run").order_by("-requested_at", "-id")

    @extend_schema(request=ActionRequestSerializer, responses={202: ActionSerializer, 200: ActionSerializer})
    def create(self, request):
        given = ActionRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            action, created = actions.request(
                given.validated_data["action"],
                given.validated_data.get("target"),
                user=request.user,
                by=str(request.user),
                via=Action.API,
            )
        except actions.ActionError as exc:
            raise serializers.ValidationError({"target": [str(exc)]}) from exc
        action = self.get_queryset().get(pk=action.pk)
        return Response(
            ActionSerializer(action).data, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK
        )


class RetryPolicySerializer(serializers.ModelSerializer):
    cooldown = DurationField(allow_null=True, required=False)
    max_attempts = serializers.IntegerField(min_value=1, max_value=20, allow_null=True, required=False)
    effective = serializers.SerializerMethodField()

    class Meta:
        model = RetryPolicy
        fields = ["id", "object", "max_attempts", "cooldown", "effective", "updated_at"]
        read_only_fields = ["updated_at"]

    def get_effective(self, policy: RetryPolicy) -> dict:
        p = retry.Policy.of(policy)
        return {"max_attempts": p.max_attempts, "cooldown": DurationField().to_representation(p.cooldown)}

    def validate_object(self, obj):
        if obj.object_type != "matview":
            raise serializers.ValidationError("the control loop retries materialized views only")
        return obj


class RetryPolicyViewSet(StrictViewMixin, viewsets.ModelViewSet):
    """One object's override of the retry policy; a null field takes the default."""

    permission_classes = [IsAdmin]
    serializer_class = RetryPolicySerializer
    filterset_fields = ["object"]
    search_fields = None
    ordering_fields = None

    def get_queryset(self):
        return RetryPolicy.objects.select_related("object").order_by("id")
