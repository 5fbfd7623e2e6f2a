"""The spec's default inference rules, as data (editable in the admin)."""

from django.db import migrations

# (attribute, value, priority, schema_pattern, object_types, when_layers, evidence, description)
# fmt: off
DEFAULTS = [
    ("layer", "RAW", 10, "raw", [], [], "", "schema raw → RAW"),
    ("layer", "CANON", 20, "canon", [], [], "", "schema canon → CANON"),
    ("layer", "MV", 30, "", ["matview"], [], "", "materialized view → MV"),
    ("layer", "DERIVED", 1000, "", [], [], "", "anything else → DERIVED"),
    ("role", "PRIMARY", 10, "", [], ["RAW", "CANON"], "", "RAW/CANON → PRIMARY"),
    ("role", "SECONDARY", 1000, "", [], [], "", "anything else → SECONDARY"),
    (
        "criticality", "critical", 10, "", ["matview"], [], "refreshed_by_opshealth",
        "materialized view refreshed by OpsHealth's refresh job → critical",
    ),
    (
        "criticality", "critical", 20, "", ["matview"], [], "endpoint_usage",
        "materialized view used by an endpoint → critical",
    ),
    ("criticality", "important", 30, "", [], [], "endpoint_usage", "used by an endpoint → important"),
    ("criticality", "normal", 1000, "", [], [], "", "anything else → normal"),
]
# fmt: on


def add_defaults(apps, schema_editor):
    InferenceRule = apps.get_model("registry", "InferenceRule")
    for attribute, value, priority, schema, types, layers, evidence, description in DEFAULTS:
        InferenceRule.objects.get_or_create(
            attribute=attribute,
            value=value,
            priority=priority,
            description=description,
            defaults={
                "schema_pattern": schema,
                "object_types": types,
                "when_layers": layers,
                "evidence": evidence,
            },
        )


def remove_defaults(apps, schema_editor):
    InferenceRule = apps.get_model("registry", "InferenceRule")
    for attribute, value, priority, _, _, _, _, description in DEFAULTS:
        InferenceRule.objects.filter(
            attribute=attribute, value=value, priority=priority, description=description
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_source_registry_objects_related_name")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
