"""The demo's alerting: channels, rules, and the incidents they open on the simulated
platform, one of them acknowledged (run by `demo_activity` after its evaluation).

The mail channel goes through Django's e-mail backend (the console backend by default:
the messages are printed by the process that sends them); the webhook channel points at
a URL nothing listens on, so it shows retries and backoff in the deliveries list.
Idempotent: channels and rules are updated by name, and incidents are the cycle's own.
"""

from __future__ import annotations

from checks.alerts.cycle import run_cycle
from checks.alerts.models import AlertRule, Channel, Incident

CHANNELS = [
    ("oncall-mail", "email", "oncall@example.com, data-team@example.com"),
    ("chatops-hook", "slack", "http://127.0.0.1:9/hooks/T000/B000/demo-token"),
]
# name, kind, params, scope, severity, channels
RULES = [
    ("Pipeline failed", "run_failed", {}, {}, "critical", ["oncall-mail"]),
    ("Pipeline failing 3 times in a row", "consecutive_failures", {"n": 3}, {}, "critical", ["oncall-mail"]),
    (
        "Flaky loads (3 of the last 5 runs)",
        "failures_of_last",
        {"n": 3, "m": 5},
        {},
        "warning",
        ["chatops-hook"],
    ),
    (
        "Health checks at WARN or worse",
        "check_status",
        {"level": "WARN"},
        {"source": "demo"},
        "warning",
        ["chatops-hook"],
    ),
    ("Platform status ERROR", "global_status", {"level": "ERROR"}, {}, "critical", ["oncall-mail"]),
]
ACK_NOTE = "FX provider outage, vendor ticket #4711: rates load again once they are back"


def set_up(stdout) -> None:
    channels = {}
    for name, kind, target in CHANNELS:
        channels[name], _ = Channel.objects.update_or_create(
            name=name, defaults={"kind": kind, "target": target}
        )
    for name, kind, params, scope, severity, names in RULES:
        rule = AlertRule.objects.filter(name=name).first() or AlertRule(name=name)
        rule.kind, rule.params, rule.severity = kind, params, severity
        rule.set_scope(scope)
        rule.full_clean()  # normalizes the params as the API would
        rule.save()
        rule.channels.set([channels[n] for n in names])
    report = run_cycle()
    stdout.write(f"alerts: {report}")
    fx = (
        Incident.objects.unresolved()
        .filter(rule__name="Pipeline failed", subject="sync_fx_rates", state=Incident.OPEN)
        .first()
    )
    if fx is not None:
        fx.acknowledge(by="demo", note=ACK_NOTE)
    counts = {
        "open": Incident.objects.unresolved().filter(state=Incident.OPEN).count(),
        "acknowledged": Incident.objects.unresolved().filter(state=Incident.ACKNOWLEDGED).count(),
        "suppressed": Incident.objects.unresolved().filter(suppressed_by__isnull=False).count(),
    }
    stdout.write("alerts: " + ", ".join(f"{n} {state}" for state, n in counts.items()) + " incident(s)")
