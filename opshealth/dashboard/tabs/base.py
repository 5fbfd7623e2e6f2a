"""What every dashboard tab is: a small class with one verb, `context`."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

from checks.models import Evaluation
from checks.selfmonitor import SchedulerState


class BadParameter(ValueError):
    """A query parameter with a value the tab cannot use: the page answers 400 with it."""


class Tab:
    key: str = ""  # ?tab=<key>
    title: str = ""
    # Query parameters the tab reads besides `tab`; any other one is a 400.
    params: frozenset[str] = frozenset()
    # Whether the rendered content is cached (opshealth/dashboard/recent.py): at most a
    # minute old, and never across a new evaluation or a change of `state()`.
    cached: bool = False

    @property
    def template(self) -> str:
        return f"dashboard/tabs/{self.key.replace('-', '_')}.html"

    def context(self, request: HttpRequest, evaluation: Evaluation | None) -> dict:
        """What the tab's template shows. `evaluation` is the latest health snapshot (the
        page header shows it too), None before the first evaluation. Raises BadParameter."""
        raise NotImplementedError

    def state(self, scheduler: SchedulerState) -> str:
        """What the cached content depends on besides time and the latest evaluation, as
        a string that changes whenever it does (a cache key part; one query at most)."""
        return ""


PAGE_SIZE = 50


def page_of(items, number: str | None, size: int = PAGE_SIZE) -> Page:
    """One page of `items` (a COUNT and a LIMIT query). A page number that is not a
    number is a 400; one past the end is the last page."""
    if number is not None and not number.isdigit():
        raise BadParameter(f"page must be a positive number, not {number!r}.")
    return Paginator(items, size).get_page(number)
