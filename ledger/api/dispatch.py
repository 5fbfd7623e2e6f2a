"""One URL, one view per HTTP method.

`ledger/runs`, `ledger/watermarks` and `ledger/check-results` are both a read-side list
(GET) and an ingestion endpoint (POST), built as separate views; Django resolves a URL to
a single view, so `by_method` picks the view by method. Put its pattern before the
views' own patterns: those stay in `urlpatterns` (unreached at runtime) so that
drf-spectacular, which skips plain functions, still documents each method.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt


def by_method(**views: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """by_method(get=read_view, post=ingest_view): HEAD and OPTIONS go to the GET view."""
    handlers = {method.upper(): view for method, view in views.items()}
    if "GET" in handlers:
        handlers.setdefault("HEAD", handlers["GET"])
        handlers.setdefault("OPTIONS", handlers["GET"])

    # DRF views are CSRF-exempt (they do their own check for session users); the
    # middleware only sees this wrapper, so it must say so too.
    @csrf_exempt
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        handler = handlers.get(request.method)
        if handler is None:
            return HttpResponseNotAllowed(sorted(handlers))
        return handler(request, *args, **kwargs)

    return view
