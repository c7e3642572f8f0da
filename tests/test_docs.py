"""Every chart's 'definition' link points at a heading of docs/metrics.md."""

from __future__ import annotations

import re

from .conftest import ROOT


def test_every_linked_definition_exists() -> None:
    headings = set(re.findall(r"^### (\S+)$", (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8"), re.M))
    sources = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    anchors = {a for p in sources for a in re.findall(r'ui\.explain\(.*?,\s*"([a-z0-9_]+)"\)', p.read_text(encoding="utf-8"), re.S)}
    assert len(anchors) >= 15
    assert anchors - headings == set()


def test_definition_links_use_streamlits_anchor_form() -> None:
    import ui

    # Streamlit makes the anchor of the heading "tier_stability" into "tier-stability"
    assert ui.definition_link("tier_stability") == "[definition](/definitions#tier-stability)"
