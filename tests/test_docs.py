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


def test_the_loads_messages_in_importing_md_are_the_loaders(tmp_path) -> None:
    """The messages docs/importing.md quotes for short rows, formulas without values and Excel
    serial dates are what a load of such files says."""
    import duckdb
    import openpyxl

    from kam_core.ingest.loader import load, short_rows_message

    doc = " ".join((ROOT / "docs" / "importing.md").read_text(encoding="utf-8").split())
    src = tmp_path / "src"
    src.mkdir()
    (src / "accounts.csv").write_text("account_id,name,key_account_since\nA-1,Alpha,45123\n", encoding="utf-8")
    wb = openpyxl.Workbook()
    wb.active.title = "Accounts"
    for row in (["account_id", "name"], ["A-1", "Alpha"], ["A-2", '=UPPER("b")']):
        wb.active.append(row)
    (tmp_path / "xlsx").mkdir()
    wb.save(tmp_path / "xlsx" / "accounts.xlsx")
    messages = [short_rows_message(7, 3, [(2, 2), (4, 2), (6, 2), (8, 2), (10, 2)])]
    for source in (src, tmp_path / "xlsx"):
        db = tmp_path / f"{source.name}.duckdb"
        load([source], db)
        con = duckdb.connect(str(db), read_only=True)
        messages += [r[0] for r in con.execute("select reason from rejects").fetchall()]
        con.close()
    assert len(messages) == 3
    for message in messages:
        assert message in doc
