"""KAM dashboard core: canonical data model, loader, metrics. Never imports streamlit.

The package is laid out along the data's flow:

- ``kam_core.ingest``: the canonical schema, file readers, the loader and the CRM importers;
- ``kam_core.metrics``: the metrics pipeline and its steps (coverage, growth, plan, scores, health);
- ``kam_core.workbench``: the team's own records (edits, reviews, snapshots) in an app-owned store;
- ``kam_core.access``: sign-in identities and roles.

The four names the speed runner needs are importable from the package itself; they are
loaded on first use so that ``import kam_core`` does no work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Settings", "base_metrics", "resolve_as_of", "score_portfolio"]

_PUBLIC = {
    "Settings": "kam_core.settings",
    "resolve_as_of": "kam_core.asof",
    "base_metrics": "kam_core.metrics.overview",
    "score_portfolio": "kam_core.metrics.portfolio",
}

if TYPE_CHECKING:
    from kam_core.asof import resolve_as_of
    from kam_core.metrics.overview import base_metrics
    from kam_core.metrics.portfolio import score_portfolio
    from kam_core.settings import Settings


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'kam_core' has no attribute {name!r}")
