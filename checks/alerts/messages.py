"""What a notification says: what, where, since when, why (the evidence), what to do
(the check's remedy) and a link to the incident; a recovery says how long it lasted.

A message is rendered once, when it is enqueued, and stored on the outbox row: every
retry sends the same bytes under the same idempotency key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

TITLES = {
    "firing": "FIRING",
    "repeat": "STILL FIRING",
    "resolved": "RESOLVED",
    "flapping": "FLAPPING",
    "silence_expired": "SILENCE ENDED, STILL FIRING",
    "ack_expired": "ACKNOWLEDGEMENT EXPIRED, STILL FIRING",
}
MAX_EVIDENCE_LINES = 12


def idempotency_key(incident_id: int, kind: str, sequence: int) -> str:
    return f"opshealth-incident-{incident_id}-{kind}-{sequence}"


def render(incident, kind: str, now: datetime) -> dict:
    """The message of `kind` about `incident` (with its `rule` loaded), JSON-ready."""
    rule = incident.rule
    title = f"[{TITLES[kind]}] {rule.name}: {incident.subject}"
    lines = [
        f"What: {incident.summary}",
        f"Where: {incident.subject} ({incident.subject_type})",
        f"Since: {incident.opened_at:%Y-%m-%d %H:%M UTC} ({format_duration(now - incident.opened_at)} ago)",
    ]
    if kind == "resolved":
        lasted = (incident.resolved_at or now) - incident.opened_at
        lines.append(f"Resolved: {now:%Y-%m-%d %H:%M UTC}, after {format_duration(lasted)}.")
    elif kind == "flapping":
        lines.append(
            "It changed state 4 times or more within an hour: notifications about it pause until "
            "it has been stable for an hour."
        )
    evidence = evidence_lines(incident.evidence)
    if evidence:
        lines.append("Why:")
        lines.extend(f"  {line}" for line in evidence)
    if incident.remedy and kind != "resolved":
        lines.append(f"What to do: {incident.remedy}.")
    lines.append(f"Incident: {incident.url}")
    return {
        "kind": kind,
        "title": title,
        "text": "\n".join(lines),
        "incident": incident.pk,
        "rule": rule.name,
        "severity": incident.severity,
        "state": incident.state,
        "subject": incident.subject,
        "subject_type": incident.subject_type,
        "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "duration_seconds": int(((incident.resolved_at or now) - incident.opened_at).total_seconds()),
        "evidence": incident.evidence,
        "remedy": incident.remedy,
        "url": incident.url,
    }


def evidence_lines(evidence: dict) -> list[str]:
    """The evidence as short lines: lists of records one line each, the rest key: value."""
    lines = []
    for key, value in evidence.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            lines.append(f"{key}:")
            for item in value[:5]:
                text = ", ".join(f"{k}={v}" for k, v in item.items() if v) if isinstance(item, dict) else item
                lines.append(f"  - {text}")
        else:
            lines.append(f"{key}: {value}")
    return [line[:300] for line in lines[:MAX_EVIDENCE_LINES]]


def format_duration(value: timedelta) -> str:
    """3 d 4 h, 2 h 5 min, 12 min, 40 s."""
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def test_message(channel_name: str, by: str, now: datetime) -> dict:
    """What `POST /api/v1/alerts/channels/{id}/test` sends."""
    who = f" by {by}" if by else ""
    return {
        "kind": "test",
        "title": f"[TEST] OpsHealth channel {channel_name}",
        "text": f"A test message from OpsHealth, sent{who} at {now:%Y-%m-%d %H:%M UTC}. "
        "Alerts of the rules using this channel will arrive here.",
        "incident": None,
    }
