"""Dashboard views: fetch → permission → the tab's context (model and queryset methods)
→ template. Every page needs a logged-in session (anonymous users are sent to the admin
login); staff users also get action buttons, POST forms handled by `action`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from checks import actions
from checks.models import Action, Evaluation
from checks.selfmonitor import scheduler_state
from opshealth.dashboard.tabs import DEFAULT, TABS, BadParameter, Tab
from opshealth.dashboard.tabs.registry import object_context


def _page(request: HttpRequest, tab: Tab, evaluation: Evaluation | None, template: str, context: dict):
    # OpsHealth's own scheduler, judged now (as ops/health-global does): while it is
    # stopped the header says so and the global status reads at least WARN.
    scheduler = scheduler_state(timezone.now())
    return render(
        request,
        template,
        {
            "tab": tab,
            "tabs": [cls() for cls in TABS.values()],
            "tab_keys": set(TABS),
            "evaluation": evaluation,
            "scheduler": scheduler,
            "global_status": scheduler.global_status(evaluation.global_status) if evaluation else None,
            **context,
        },
    )


def _bad_request(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(
        request,
        "dashboard/error.html",
        {"tabs": [cls() for cls in TABS.values()], "message": message},
        status=status,
    )


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    key = request.GET.get("tab", DEFAULT)
    if key not in TABS:
        return _bad_request(request, f"Unknown tab {key!r}; the tabs are: {', '.join(TABS)}.", 404)
    tab = TABS[key]()
    unknown = sorted(set(request.GET) - {"tab"} - tab.params)
    if unknown:
        known = ", ".join(sorted(tab.params | {"tab"}))
        return _bad_request(
            request, f"Unknown query parameter {', '.join(unknown)}; this tab reads: {known}."
        )
    evaluation = Evaluation.latest()
    try:
        context = tab.context(request, evaluation)
    except BadParameter as exc:
        return _bad_request(request, str(exc))
    return _page(request, tab, evaluation, tab.template, context)


@require_GET
@login_required
def object_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One registry object: status, staleness, lineage, columns, usages, runs, results."""
    tab = TABS["registry"]()
    unknown = sorted(set(request.GET) - {"hops"})
    if unknown:
        return _bad_request(request, f"Unknown query parameter {', '.join(unknown)}; this page reads: hops.")
    evaluation = Evaluation.latest()
    try:
        context = object_context(request, pk, evaluation)
    except BadParameter as exc:
        return _bad_request(request, str(exc))
    if context is None:
        return _bad_request(request, f"No registry object {pk}.", 404)
    return _page(request, tab, evaluation, "dashboard/object.html", context)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("dashboard")


@require_POST
@login_required
def action(request: HttpRequest) -> HttpResponse:
    """Staff only: queue an action of checks.actions (evaluate, refresh a materialized
    view, discover a source…) for the task cluster, as POST /api/v1/actions does, and go
    back to the page with a message saying what was queued."""
    if not request.user.is_staff:
        return HttpResponseForbidden("Only staff users may run actions.")
    kind, target = request.POST.get("action", ""), request.POST.get("target") or None
    try:
        queued, created = actions.request(
            kind, target, user=request.user, by=request.user.get_username(), via=Action.ADMIN
        )
    except actions.ActionError as exc:
        messages.error(request, f"Not queued: {exc}.")
    else:
        what = f"{queued.kind} {queued.target}".strip()
        if created:
            messages.success(request, f"Queued: {what} (action #{queued.pk}); the task cluster runs it.")
        else:
            messages.info(request, f"Already {queued.state}: {what} (action #{queued.pk}).")
    return redirect(_next_url(request))
