"""Dashboard views: fetch → permission → the tab's context (model and queryset methods)
→ template. Every page needs a logged-in session (anonymous users are sent to the admin
login); staff users also get action buttons, POST forms handled by `action`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from checks import actions
from checks.models import Action, Evaluation
from checks.selfmonitor import SchedulerState, scheduler_state
from opshealth.dashboard.recent import revalidated
from opshealth.dashboard.tabs import DEFAULT, TABS, BadParameter, Tab
from opshealth.dashboard.tabs.registry import object_context

# What a cached content renders in place of the CSRF token of its forms (staff's action
# buttons): each response puts its own user's token there.
CSRF_PLACEHOLDER = "csrf-token-of-this-response"


def _page(
    request: HttpRequest,
    tab: Tab,
    evaluation: Evaluation | None,
    template: str,
    build: Callable[[], dict],
    state: Callable[[SchedulerState], str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The page: `template` rendered with `build()` (the tab's context) as its content,
    inside dashboard/page.html (header, tab bar, messages), rendered per request.

    With a `state` (what changes whenever the content may, besides time and the latest
    evaluation: a string, given the scheduler's state), the content is cached under it
    and the request's URL and staffness, at most a minute old (recent.py): a page view
    then costs the header's queries, not the tab's."""
    # OpsHealth's own scheduler, judged now (as ops/health-global does): while it is
    # stopped the header says so and the global status reads at least WARN.
    now = timezone.now()
    scheduler = scheduler_state(now)
    shared = {"tab": tab, "evaluation": evaluation, "scheduler": scheduler}

    def content() -> tuple[tuple[str, str], datetime]:
        context = shared | build()
        html = render_to_string(template, context | {"csrf_token": CSRF_PLACEHOLDER}, request)
        return (html, context.get("title", "")), context.get("as_of", now)

    as_of = None
    if state is None:
        (html, title), _ = content()
    else:
        query = urlencode(sorted(request.GET.lists()), doseq=True)
        identity = f"{request.path}?{query} staff={request.user.is_staff}"
        key = "page:" + hashlib.sha256(identity.encode()).hexdigest()
        evaluated = f"{evaluation.pk}" if evaluation else "-"
        (html, title), as_of = revalidated(key, f"{evaluated} {state(scheduler)}", content)
    return render(
        request,
        "dashboard/page.html",
        shared
        | {
            "tabs": [cls() for cls in TABS.values()],
            "global_status": scheduler.global_status(evaluation.global_status) if evaluation else None,
            "content": mark_safe(html.replace(CSRF_PLACEHOLDER, get_token(request))),
            "title": title,
            "as_of": as_of,
        },
        status=status,
    )


def _bad_request(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return _page(
        request,
        Tab(),
        None,
        "dashboard/error.html",
        lambda: {"message": message, "title": "Error"},
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
        return _page(
            request,
            tab,
            evaluation,
            tab.template,
            lambda: tab.context(request, evaluation),
            tab.state if tab.cached else None,
        )
    except BadParameter as exc:
        return _bad_request(request, str(exc))


@require_GET
@login_required
def object_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One registry object: status, staleness, lineage, columns, usages, runs, results."""
    tab = TABS["registry"]()
    unknown = sorted(set(request.GET) - {"hops"})
    if unknown:
        return _bad_request(request, f"Unknown query parameter {', '.join(unknown)}; this page reads: hops.")
    evaluation = Evaluation.latest()

    def build() -> dict:
        context = object_context(request, pk, evaluation)
        if context is None:
            raise NoObject()
        return context

    try:
        # Cached under the latest evaluation, at most a minute old (what it says): a state
        # query more would take the page past its 12 queries.
        return _page(request, tab, evaluation, "dashboard/object.html", build, lambda _: "")
    except BadParameter as exc:
        return _bad_request(request, str(exc))
    except NoObject:
        return _bad_request(request, f"No registry object {pk}.", 404)


class NoObject(Exception):
    """The object page's object does not exist (a 404, never cached)."""


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
