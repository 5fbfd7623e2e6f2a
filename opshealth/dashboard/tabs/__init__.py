"""The dashboard's tabs: a dict of small classes, key (`?tab=`) → class, in tab-bar order.

A tab is one module of this package defining `TAB`, a subclass of `base.Tab`, and a
template `templates/dashboard/tabs/<key>.html`. `MODULES` fixes the order of the bar;
a module listed there that does not exist (yet) is simply not in the bar, so an issue
adds its tab by adding its module, and no page is ever a placeholder.
"""

from __future__ import annotations

import importlib

from opshealth.dashboard.tabs.base import BadParameter, Tab

MODULES = ("overview", "registry", "raw", "mv", "checks", "runs", "alerts", "data_checks")


def _load() -> dict[str, type[Tab]]:
    tabs: dict[str, type[Tab]] = {}
    for name in MODULES:
        qualified = f"{__name__}.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise  # a tab that exists but imports something missing is a bug
            continue
        tabs[module.TAB.key] = module.TAB
    return tabs


TABS: dict[str, type[Tab]] = _load()
DEFAULT = "overview"

__all__ = ["DEFAULT", "TABS", "BadParameter", "Tab"]
