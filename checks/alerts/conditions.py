"""Alert conditions: a dict of small classes, one verb each (`firing`).

A condition knows its parameters (`clean_params` normalizes what the API or the admin
sent), the scope fields that make sense for its subjects, and how to find, for all
enabled rules of its group at once, every subject that fires now. Rules of one group
share one statement (`checks.alerts.queries`), so a cycle costs a constant number of
queries whatever the number of rules, pipelines and objects.

Subjects:
  * pipeline conditions: a pipeline (`pipeline:<id>`), judged on its finished runs
    (success or failed; an aborted run, such as a skipped overlap, is no outcome);
  * `stale`: a registry object (`object:<id>`) older than its allowed age times a factor;
  * `check_status`: one offending item of a health or data check in the latest
    evaluation (`check:<check_key>:<type>:<subject>`);
  * `global_status`: the platform (`global`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from checks.alerts import queries
from checks.health import CHECKS
from checks.models import LEVEL_RANK, Evaluation
from checks.staleness import object_staleness
from common.durations import parse_duration


@dataclass
class Firing:
    """One subject for which one rule's condition holds now."""

    rule_id: int
    subject_key: str
    subject: str
    subject_type: str
    summary: str
    evidence: dict
    object_id: int | None = None
    labels: dict = field(default_factory=dict)


def _int(params: dict, name: str, default: int | None = None, *, low: int = 1, high: int = 1000) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{name}' must be a whole number from {low} to {high}.")
    return value


def _level(params: dict, default: str) -> str:
    level = str(params.get("level", default)).upper()
    if level not in ("WARN", "ERROR"):
        raise ValueError("'level' is WARN or ERROR.")
    return level


class Condition:
    kind = ""
    description = ""
    scopes: tuple[str, ...] = ()
    params_help = ""
    check_key = ""  # the health check whose remedy tells what to do

    @classmethod
    def clean_params(cls, params: dict) -> dict:
        if not isinstance(params, dict):
            raise ValueError("'params' is an object.")
        known = cls.param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"Unknown parameter(s) {', '.join(unknown)} for {cls.kind}.")
        return cls._clean(params)

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def _clean(cls, params: dict) -> dict:
        return {}

    @classmethod
    def check_scope(cls, scope: dict) -> None:
        extra = sorted(set(scope) - set(cls.scopes))
        if extra:
            allowed = ", ".join(cls.scopes) or "none (it is global)"
            raise ValueError(f"{cls.kind} cannot be scoped by {', '.join(extra)}; scopes: {allowed}.")

    @classmethod
    def remedy(cls, check_key: str = "") -> str:
        check = CHECKS.get(check_key or cls.check_key)
        return check.remedy if check else ""

    @classmethod
    def firing(cls, rules: list, now: datetime) -> list[Firing]:
        raise NotImplementedError


class PipelineCondition(Condition):
    """The four run-based conditions, evaluated together by one statement."""

    scopes = ("client", "pipeline")
    check_key = "pipeline_run_failed"

    @classmethod
    def firing(cls, rules, now):
        by_id = {r.pk: r for r in rules}
        out = []
        for rule_id, pipeline_id, namespace, name, client, failed, total, runs in queries.pipeline_firing(
            list(by_id), now
        ):
            rule = by_id[rule_id]
            label = f"{namespace}/{name}" if namespace else name
            condition = CONDITIONS[rule.kind]
            out.append(
                Firing(
                    rule_id=rule_id,
                    subject_key=f"pipeline:{pipeline_id}",
                    subject=label,
                    subject_type="pipeline",
                    summary=f"Pipeline {label}: {condition.explain(rule.params, failed, total)}.",
                    evidence={"failed": failed, "of": total, "failing_runs": runs or []},
                    labels={"pipeline": name, "client": client},
                )
            )
        return out

    @classmethod
    def explain(cls, params: dict, failed: int, total: int) -> str:
        raise NotImplementedError


class RunFailed(PipelineCondition):
    kind = "run_failed"
    description = "The latest outcome of a pipeline (its newest success-or-failed run) failed."

    @classmethod
    def explain(cls, params, failed, total):
        return "its latest run failed"


class ConsecutiveFailures(PipelineCondition):
    kind = "consecutive_failures"
    description = "The last n finished runs of a pipeline all failed."
    params_help = '{"n": 3}'

    @classmethod
    def param_names(cls):
        return ("n",)

    @classmethod
    def _clean(cls, params):
        return {"n": _int(params, "n", 3)}

    @classmethod
    def explain(cls, params, failed, total):
        return f"its last {params['n']} runs failed"


class FailuresOfLast(PipelineCondition):
    kind = "failures_of_last"
    description = "At least n of the last m finished runs failed (flap control)."
    params_help = '{"n": 3, "m": 5}'

    @classmethod
    def param_names(cls):
        return ("n", "m")

    @classmethod
    def _clean(cls, params):
        m = _int(params, "m", 5)
        n = _int(params, "n", min(3, m), high=m)
        return {"n": n, "m": m}

    @classmethod
    def explain(cls, params, failed, total):
        return f"{failed} of its last {total} runs failed"


class FailureRate(PipelineCondition):
    kind = "failure_rate"
    description = "The share of failed runs over a window reaches a threshold, with a minimum sample."
    params_help = '{"window": "24h", "threshold": 0.5, "min_sample": 5}'

    @classmethod
    def param_names(cls):
        return ("window", "threshold", "min_sample")

    @classmethod
    def _clean(cls, params):
        window = parse_duration(str(params.get("window", "24h")))
        threshold = params.get("threshold", 0.5)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
            raise ValueError("'threshold' is a share above 0 and at most 1 (0.5 = half the runs).")
        return {
            "window": str(params.get("window", "24h")),
            "window_seconds": int(window.total_seconds()),
            "threshold": float(threshold),
            "min_sample": _int(params, "min_sample", 5, high=100_000),
        }

    @classmethod
    def clean_params(cls, params):
        params = {k: v for k, v in (params or {}).items() if k != "window_seconds"}
        return super().clean_params(params)

    @classmethod
    def explain(cls, params, failed, total):
        return (
            f"{failed} of {total} runs failed over {params['window']} (threshold {params['threshold']:.0%})"
        )


class Stale(Condition):
    kind = "stale"
    description = "An object in scope is older than its allowed age (times a factor)."
    params_help = '{"factor": 1}'
    scopes = ("source", "object")
    check_key = "freshness_sla_breach"

    @classmethod
    def param_names(cls):
        return ("factor",)

    @classmethod
    def _clean(cls, params):
        factor = params.get("factor", 1)
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor <= 1000:
            raise ValueError("'factor' is a number above 0 (1 = the allowed age itself).")
        return {"factor": float(factor)}

    @classmethod
    def firing(cls, rules, now):
        stale = [s for s in object_staleness(now) if s.age is not None]
        if not stale:
            return []
        sources = queries.source_names([s.object_id for s in stale])
        out = []
        for rule in rules:
            factor = rule.params.get("factor", 1.0)
            for s in stale:
                source = sources.get(s.object_id, "")
                if s.age <= s.allowed_age * factor:
                    continue
                if rule.scope_object and rule.scope_object != s.qualified_name:
                    continue
                if rule.scope_source and rule.scope_source != source:
                    continue
                out.append(
                    Firing(
                        rule_id=rule.pk,
                        subject_key=f"object:{s.object_id}",
                        subject=s.qualified_name,
                        subject_type="object",
                        object_id=s.object_id,
                        summary=(
                            f"{s.qualified_name} is stale: its newest signal is {_hours(s.age)} old, "
                            f"allowed {_hours(s.allowed_age * factor)}."
                        ),
                        evidence={"source": source, **s.detail()},
                        labels={"source": source, "object": s.qualified_name},
                    )
                )
        return out


class CheckStatus(Condition):
    kind = "check_status"
    description = "A health or data check reports a subject in scope at WARN or ERROR."
    params_help = '{"level": "WARN"}'
    scopes = ("check_key", "source", "object", "pipeline")

    @classmethod
    def param_names(cls):
        return ("level",)

    @classmethod
    def _clean(cls, params):
        return {"level": _level(params, "WARN")}

    @classmethod
    def check_scope(cls, scope):
        super().check_scope(scope)
        if scope.get("check_key") and scope["check_key"] not in CHECKS:
            raise ValueError(f"Unknown check_key {scope['check_key']!r}.")

    @classmethod
    def firing(cls, rules, now):
        by_id = {r.pk: r for r in rules}
        out = []
        for (
            rule_id,
            check_key,
            subject_type,
            subject,
            object_id,
            level,
            detail,
            message,
            source,
            obj,
        ) in queries.check_firing(list(by_id), [LEVEL_RANK[r.params.get("level", "WARN")] for r in rules]):
            labels = {"check_key": check_key, "source": source or detail.get("source") or ""}
            if subject_type == "source":
                labels["source"] = subject
            if obj:
                labels["object"] = obj
            if subject_type == "pipeline":
                labels["pipeline"] = subject
            out.append(
                Firing(
                    rule_id=rule_id,
                    subject_key=f"check:{check_key}:{subject_type}:{subject}",
                    subject=f"{check_key}: {subject}",
                    subject_type="check",
                    object_id=object_id,
                    summary=f"{check_key} is {level} for {subject}. {message}",
                    evidence={"check_key": check_key, "level": level, **detail},
                    labels=labels,
                )
            )
        return out


class GlobalStatus(Condition):
    kind = "global_status"
    description = "The global status reaches a level (WARN or ERROR)."
    params_help = '{"level": "ERROR"}'

    @classmethod
    def param_names(cls):
        return ("level",)

    @classmethod
    def _clean(cls, params):
        return {"level": _level(params, "ERROR")}

    @classmethod
    def firing(cls, rules, now):
        latest = (
            Evaluation.objects.latest_one()
            .values_list("global_status", "explanation", "evaluated_at")
            .first()
        )
        if latest is None:
            return []
        status, explanation, evaluated_at = latest
        return [
            Firing(
                rule_id=rule.pk,
                subject_key="global",
                subject="global status",
                subject_type="global",
                summary=f"The global status is {status} (evaluated {evaluated_at:%Y-%m-%d %H:%M} UTC).",
                evidence={"status": status, "contributing": explanation.get("contributing", [])},
            )
            for rule in rules
            if LEVEL_RANK[status] >= LEVEL_RANK[rule.params.get("level", "ERROR")]
        ]

    @classmethod
    def remedy(cls, check_key=""):
        return "See what would turn it green: /api/v1/ops/health-global"


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


CONDITIONS: dict[str, type[Condition]] = {
    cls.kind: cls
    for cls in (RunFailed, ConsecutiveFailures, FailuresOfLast, FailureRate, Stale, CheckStatus, GlobalStatus)
}


def evaluator(kind: str) -> type[Condition]:
    """The class whose `firing` evaluates rules of `kind`: the four pipeline kinds share one."""
    cls = CONDITIONS[kind]
    return PipelineCondition if issubclass(cls, PipelineCondition) else cls
