"""Serializers of the resolver API (`/api/v1/resolvers`), and the rule validation the
admin shares: a pattern must compile, a transform knows its option keys."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from common.identifiers import InvalidName, split_identifier
from registry.models import ResolverRule, Source
from registry.patterns import compile_pattern, pattern_problem

# Transform options and the type each takes (see ResolverRule).
TRANSFORM_OPTIONS: dict[str, type] = {
    "lower": bool,
    "strip_quotes": bool,
    "strip_prefix": str,
    "default_schema": str,
}


def rule_errors(kind: str, match: str, target: str, options: Any) -> dict[str, list[str]]:
    """Field → messages for a resolver rule that could never resolve anything.

    alias: `match` and a `target` that is a valid name; pattern: a `match` that compiles
    and a `target` naming only its groups; transform: known options, and `match`, when
    given, a regex that compiles (it limits the names the transform applies to).
    """
    errors: dict[str, list[str]] = {}
    if kind in ("alias", "pattern"):
        for field, value in (("match", match), ("target", target)):
            if not value:
                errors[field] = [f"An {kind} rule needs a {field}."]
    if kind == "alias" and target:
        try:
            split_identifier(target)
        except InvalidName as exc:
            errors["target"] = [f"Not a valid name: {exc}."]
    compiled = None
    if kind in ("pattern", "transform") and match:
        problem = pattern_problem(match)
        if problem:
            errors["match"] = [problem]
        else:
            compiled = compile_pattern(match)
    if kind == "pattern" and compiled and target:
        errors.update(_template_errors(compiled, target))
    if not isinstance(options, dict):
        errors["options"] = ["Options are a JSON object."]
    elif kind == "transform":
        errors.update(_transform_errors(options))
    elif options:
        errors["options"] = [f"Only transform rules take options, not {kind} rules."]
    return errors


def _template_errors(compiled, target: str) -> dict[str, list[str]]:
    """A target template must only name groups the pattern has."""
    groups = [int(plain or named) for plain, named in re.findall(r"\\(\d+)|\\g<(\d+)>", target)]
    names = re.findall(r"\\g<([A-Za-z_]\w*)>", target)
    bad = [f"\\{n}" for n in groups if n > compiled.groups]
    bad += [f"\\g<{name}>" for name in names if name not in compiled.groupindex]
    if bad:
        return {"target": [f"The pattern has no group {', '.join(bad)}."]}
    return {}


def _transform_errors(options: dict) -> dict[str, list[str]]:
    messages = []
    for key, value in options.items():
        expected = TRANSFORM_OPTIONS.get(key)
        if expected is None:
            messages.append(f"Unknown option {key!r}; known: {', '.join(TRANSFORM_OPTIONS)}.")
        elif not isinstance(value, expected):
            messages.append(f"Option {key!r} must be a {expected.__name__}.")
    if not options:
        messages.append("A transform rule needs at least one option.")
    return {"options": messages} if messages else {}


class SourceNameField(serializers.SlugRelatedField):
    """A source by name. A name PostgreSQL cannot hold (a NUL character) names no
    source: refused as such, not sent to the database (where it would be a 500)."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="name", queryset=Source.objects.all(), **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class ResolverRuleSerializer(serializers.ModelSerializer):
    source = SourceNameField(
        required=False,
        allow_null=True,
        help_text="source name; null = every source",
    )

    class Meta:
        model = ResolverRule
        fields = [
            "id",
            "source",
            "kind",
            "priority",
            "match",
            "target",
            "options",
            "description",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate(self, attrs: dict) -> dict:
        current = self.instance
        merged = {
            name: attrs.get(name, getattr(current, name, default))
            for name, default in (("kind", ""), ("match", ""), ("target", ""), ("options", {}))
        }
        errors = rule_errors(**merged)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# Bounds one simulate call (any read token may make it): names times rules matches, each
# linear in the name (RE2).
MAX_SIMULATE_NAMES = 1000


class SimulateRequestSerializer(serializers.Serializer):
    names = serializers.ListField(
        child=serializers.CharField(max_length=500, trim_whitespace=False),
        min_length=1,
        max_length=MAX_SIMULATE_NAMES,
        help_text=f"at most {MAX_SIMULATE_NAMES} names of at most 500 characters",
    )
    source = SourceNameField(
        required=False,
        allow_null=True,
        help_text="source name; omitted = the objects and global rules of every source",
    )
    search_path = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="where unqualified names land; default: the source's search path",
    )


class ResolutionSerializer(serializers.Serializer):
    """One simulated resolution: where the name lands and which rule decided it."""

    name = serializers.CharField(help_text="the name as given")
    schema_name = serializers.CharField(allow_null=True)
    object_name = serializers.CharField(allow_null=True)
    object_id = serializers.IntegerField(
        allow_null=True, help_text="registry object id; null when unresolved"
    )
    rule = serializers.CharField(help_text='the rule that fired ("alias #3: …", "search_path", "exact", "")')
    resolved = serializers.BooleanField()


class SimulateResponseSerializer(serializers.Serializer):
    source = serializers.CharField(allow_null=True)
    search_path = serializers.ListField(child=serializers.CharField())
    results = ResolutionSerializer(many=True)
