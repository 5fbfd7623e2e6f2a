"""Alerts: the in-app inbox. Every incident, always, with why it is quiet when it is;
suppressed incidents hang under the incident that suppresses them (the tree). Staff
users acknowledge, snooze and resolve from here (POST forms, `incident_action`)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from checks.alerts.messages import evidence_lines
from checks.alerts.models import Incident, IncidentEvent
from opshealth.dashboard.tabs.base import BadParameter, Tab, page_of

STATES = ("unresolved", Incident.OPEN, Incident.ACKNOWLEDGED, Incident.RESOLVED, "all")
SNOOZES = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}


def incidents_state() -> str:
    """Changes with every change of an incident (each writes a timeline event): the
    cached alerts and overview pages show an acknowledgement at once."""
    return str(IncidentEvent.objects.aggregate(last=Max("id"))["last"])


class Alerts(Tab):
    key = "alerts"
    title = "Alerts"
    params = frozenset({"state", "incident", "page"})
    cached = True

    def state(self, scheduler):
        return incidents_state()

    def context(self, request, evaluation):
        state = request.GET.get("state", "unresolved")
        if state not in STATES:
            raise BadParameter(f"state is one of {', '.join(STATES)}, not {state!r}.")
        incidents = Incident.objects.inbox()
        if state == "unresolved":
            incidents = incidents.unresolved()
        elif state != "all":
            incidents = incidents.filter(state=state)
        # The tree: roots on the page, the unresolved incidents each suppresses beneath it.
        roots = incidents.exclude(suppressed_by__isnull=False, suppressed_by__resolved_at__isnull=True)
        roots = roots.prefetch_related("suppresses__rule")
        context = {
            "counts": Incident.objects.open_by_severity(),
            "state": state,
            "states": STATES,
            "incidents": page_of(roots, request.GET.get("page")),
            "snoozes": list(SNOOZES),
            "selected": None,
        }
        pk = request.GET.get("incident")
        if pk is not None:
            if not pk.isdigit():
                raise BadParameter(f"incident must be an incident id, not {pk!r}.")
            selected = Incident.objects.inbox().filter(pk=int(pk)).first()
            if selected is None:
                raise BadParameter(f"No incident {pk}.")
            context["selected"] = selected
            context["timeline"] = selected.timeline()
            context["evidence"] = evidence_lines(selected.evidence)  # as the messages say it
        return context


TAB = Alerts

VERBS = ("acknowledge", "snooze", "resolve")


@require_POST
@login_required
def incident_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Staff only: acknowledge (with a note), snooze (for one of SNOOZES) or resolve."""
    if not request.user.is_staff:
        return HttpResponseForbidden("Only staff users may act on incidents.")
    incident = get_object_or_404(Incident, pk=pk)
    by = request.user.get_username()
    try:
        if verb == "acknowledge":
            incident.acknowledge(by=by, user=request.user, note=request.POST.get("note", "")[:2000])
        elif verb == "snooze":
            duration = SNOOZES.get(request.POST.get("for", ""))
            if duration is None:
                raise ValueError(f"Snooze for one of {', '.join(SNOOZES)}.")
            incident.snooze(until=timezone.now() + duration, by=by)
        else:
            incident.resolve(by=by)
    except ValueError as exc:
        messages.error(request, f"Incident #{pk}: {exc}")
    else:
        messages.success(request, f"Incident #{pk}: {verb}d.")
    return redirect(f"{reverse('dashboard')}?tab=alerts&incident={pk}")
