"""Issue 10, hardening: one test per attack, each with the attack's input.

The SQL box's bombs are in ``test_sqlbox.py`` and reloads under load in ``test_concurrency.py``;
here are the downloads, the settings, markdown from data and the safeguards of the Data and
Settings pages.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from kam_core.errors import SettingsError
from kam_core.export import to_csv_bytes, to_excel_bytes
from kam_core.settings import Settings

# ---------------------------------------------------------------- 3. CSV injection through CR/LF

CRLF_ATTACKS = [
    "\r=HYPERLINK(\"http://evil.example/x\",\"click\")",  # led by CR: a row of its own in Excel
    "\n=cmd|' /C calc'!A0",  # led by LF
    "\r\n+1+1",
    "ok\r=HYPERLINK(\"http://evil.example/x\")",  # CR inside: would start a new row with a formula
    "ok\n@SUM(A1:A9)",
    "two\r\nlines\r\n-2+3",
]


def _spreadsheet_rows(data: bytes) -> list[list[str]]:
    """The rows a spreadsheet reads from the CSV bytes (RFC 4180 parsing, as Excel does)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_csv_values_with_cr_or_lf_stay_one_cell_and_never_lead_with_a_formula() -> None:
    frame = pd.DataFrame({"name": CRLF_ATTACKS, "amount": [1.5, -2.0, 3.0, 4.0, 5.0, 6.0]})
    data = to_csv_bytes(frame)
    rows = _spreadsheet_rows(data)
    assert len(rows) == 1 + len(CRLF_ATTACKS)  # no value started a row of its own
    names = [r[0] for r in rows[1:]]
    # led by CR/LF: neutralised with an apostrophe; CR/LF inside: kept, as one (quoted) cell
    assert names == ["'" + CRLF_ATTACKS[0], "'" + CRLF_ATTACKS[1], "'" + CRLF_ATTACKS[2], *CRLF_ATTACKS[3:]]
    assert [r[1] for r in rows[1:]] == ["1.5", "-2.0", "3.0", "4.0", "5.0", "6.0"]  # numbers stay numbers
    text = data.decode("utf-8-sig")
    for value in CRLF_ATTACKS:  # every field holding CR or LF is quoted in the file itself
        stored = value if value[0] not in "\r\n" else "'" + value
        assert '"' + stored.replace('"', '""') + '"' in text


def test_csv_header_led_by_cr_is_neutralised() -> None:
    frame = pd.DataFrame({"\r=1+2": ["x"]})
    assert _spreadsheet_rows(to_csv_bytes(frame))[0] == ["'\r=1+2"]


def test_excel_keeps_cr_lf_values_as_text() -> None:
    frame = pd.DataFrame({"name": CRLF_ATTACKS})
    book = openpyxl.load_workbook(io.BytesIO(to_excel_bytes(frame)))
    cells = [c for c in book.active["A"]][1:]
    assert [c.data_type for c in cells] == ["s"] * len(CRLF_ATTACKS)  # text, never a formula
    # (XML turns CR into LF on reading; what matters is the apostrophe in front)
    assert [c.value[0] for c in cells[:3]] == ["'", "'", "'"]


# ---------------------------------------------------------------- 8. settings: nan and inf


@pytest.mark.parametrize(
    ("toml", "key", "shown"),
    [
        ("sql_time_limit_s = nan", "sql_time_limit_s", "nan"),  # would lift the SQL box's time limit
        ("sql_time_limit_s = inf", "sql_time_limit_s", "inf"),
        ("half_life_days = +inf", "half_life_days", "inf"),
        ("status_green = -nan", "status_green", "nan"),
        ("target_margin = -inf", "target_margin", "-inf"),
        ("[health_weights]\ncoverage = nan", "health_weights", "{'coverage': nan}"),
        ("[criteria_weights]\nfit = inf", "criteria_weights", "{'fit': inf}"),
        ('tiers = [["A", nan], ["B", 0]]', "tiers", "[['A', nan], ['B', 0]]"),
    ],
)
def test_settings_refuse_non_finite_numbers(tmp_path: Path, toml: str, key: str, shown: str) -> None:
    path = tmp_path / "kam.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(SettingsError) as exc:
        Settings.from_file(path)
    assert str(exc.value) == (
        f"kam.toml: {key} = {shown} is not allowed: expected a finite number, not nan or inf"
    )


def test_settings_refuse_non_finite_numbers_from_the_app() -> None:
    with pytest.raises(SettingsError, match="sql_memory_limit_mb = inf is not allowed"):
        Settings().replace(sql_memory_limit_mb=float("inf"))
    assert Settings({"sql_time_limit_s": 2.5}).sql_time_limit_s == 2.5  # finite numbers still pass


# ---------------------------------------------------------------- 7. markdown from data

HOSTILE = [
    "![x](http://evil.example/t.png)",  # an image: every viewer's browser would fetch it
    "[click](http://evil.example/link)",  # a live link
    '<img src="http://evil.example/i.png">',  # HTML
    "$\\href{http://evil.example/k}{x}$",  # math
    ":red[red] :material/home:",  # Streamlit directives
    "`tick` **bold**",  # backticks, emphasis
    "see http://evil.example/auto",  # a bare URL (GitHub-flavoured markdown links it)
    "www.evil.example",
    "boss@evil.example",
    '<a href="http://evil.example/a">a</a>',
]
MD_FIELDS = ("body", "label", "help")
# what plotly shows of a trace (legendgroup, ids and the like are never shown)
CHART_FIELDS = ("name", "text", "hovertext", "hovertemplate", "texttemplate", "x", "y", "customdata", "labels")


def _hostile_export(folder: Path) -> Path:
    """The demo export with hostile names, titles, departments, product lines and criteria."""
    from kam_core.appdata import DEMO_DIR

    folder.mkdir()
    product_lines: dict[str, str] = {}
    for src in sorted(DEMO_DIR.glob("*.csv")):
        frame = pd.read_csv(src, dtype=str, keep_default_na=False)
        table = src.stem
        if table in ("accounts", "team", "contacts", "criteria"):
            frame["name"] = [f"{HOSTILE[i % len(HOSTILE)]} {i}" for i in range(len(frame))]
        if table == "accounts":
            frame.loc[frame.index[:3], "industry"] = HOSTILE[0]
            frame.loc[frame.index[3:6], "region"] = HOSTILE[1]
        if table == "contacts":
            frame["title"] = [HOSTILE[(i + 1) % len(HOSTILE)] for i in range(len(frame))]
            frame["department"] = [HOSTILE[(i + 2) % len(HOSTILE)] for i in range(len(frame))]
        if "product_line" in frame.columns:
            for value in sorted(set(frame["product_line"]) - {""}):
                product_lines.setdefault(value, f"{HOSTILE[len(product_lines) % len(HOSTILE)]} #{len(product_lines)}")
            frame["product_line"] = frame["product_line"].map(lambda v: product_lines.get(v, v))
        frame.to_csv(folder / src.name, index=False)
    return folder


def _unescaped(text: str) -> str:
    """The text a reader sees: backslash escapes resolved, word joiners invisible."""
    return _unescape_only(text).replace("\u2060", "")


def _live_from_data(text: str) -> list[str]:
    """Links and images that markdown (CommonMark + GFM autolinks, as Streamlit renders it)
    would make of ``text``, pointing to the attacker's host."""
    import re

    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"linkify": True}).enable(["linkify", "table", "strikethrough"])
    found: list[str] = []

    def walk(tokens) -> None:
        for tok in tokens:
            target = tok.attrGet("href") or tok.attrGet("src") or ""
            if tok.type in ("link_open", "image") and "evil" in str(target):
                found.append(f"{tok.type} {target}")
            walk(tok.children or [])

    walk(parser.parse(text))
    # GFM links bare http://, www. and e-mail addresses after escapes are resolved
    for match in re.finditer(r"(?i)(https?://|www\.)evil|[\w.+-]@evil", _unescape_only(text)):
        found.append(f"autolink {match.group(0)}")
    return found


def _unescape_only(text: str) -> str:
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def _markdown_of(at) -> list[str]:
    """Every string of the rendered page that Streamlit renders as markdown."""
    out: list[str] = []

    def fields(proto, with_options: bool) -> None:
        for desc, value in proto.ListFields():
            if desc.type == desc.TYPE_MESSAGE:
                for item in value if desc.is_repeated else [value]:
                    fields(item, with_options)
            elif isinstance(value, str) and desc.name in MD_FIELDS:
                out.append(value)
            elif with_options and desc.name == "options" and desc.is_repeated:
                out.extend(str(v) for v in value)

    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            fields(proto, getattr(node, "type", "") in ("radio", "button_group"))
    return out


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    from kam_core.ingest.loader import load

    folder = _hostile_export(tmp_path_factory.mktemp("hostile") / "export")
    db = folder.parent / "kam.duckdb"
    load([folder], db)
    return db


PAGES = ["app.py", "pages/1_portfolio.py", "pages/2_account.py", "pages/3_relationships.py",
         "pages/4_growth.py", "pages/5_explore.py", "pages/6_data.py", "pages/7_settings.py",
         "pages/8_definitions.py"]


@pytest.mark.parametrize("page", PAGES)
def test_names_from_data_render_as_text_on_every_page(hostile_db: Path, tmp_path: Path, monkeypatch,
                                                      page: str) -> None:
    import json

    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    monkeypatch.setenv("KAM_DB", str(hostile_db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    if page != "app.py":
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    strings = _markdown_of(at)
    live = [(s[:80], hit) for s in strings for hit in _live_from_data(s)]
    assert not live, live[:5]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    for spec in charts:  # plotly renders <a href> and <b> in texts: data is HTML-escaped
        for trace in spec["data"]:
            shown_fields = json.dumps([trace.get(k) for k in CHART_FIELDS])
            assert '<a href="http://evil' not in shown_fields and "<img" not in shown_fields, trace.get("name")
    # the hostile names did reach the page's markdown (so the checks above saw them), as text
    shown = " ".join(_unescaped(s) for s in strings)
    if page in ("app.py", "pages/2_account.py", "pages/1_portfolio.py"):
        assert any(h in shown for h in HOSTILE), page
    if page in ("pages/1_portfolio.py", "pages/2_account.py", "pages/3_relationships.py", "pages/4_growth.py"):
        assert any("&lt;a href=" in json.dumps(spec["data"]) for spec in charts), page
