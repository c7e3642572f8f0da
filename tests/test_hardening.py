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

from kam_core.access import local_actor
from kam_core.errors import SettingsError
from kam_core.export import to_csv_bytes, to_excel_bytes
from kam_core.settings import Settings

LOCAL = local_actor()  # the CLI's (and a local app's) one user: every right

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


# ---------------------------------------------------------------- 10. backups when data is replaced


def _export(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"A-{i},{name}\n" for i, name in enumerate(names))
    (folder / "accounts.csv").write_text("account_id,name\n" + rows, encoding="utf-8")
    return folder


def _names(db: Path) -> list[str]:
    from .conftest import query

    return [n for (n,) in query(db, "select name from accounts order by account_id")]


def test_replacing_data_keeps_the_last_backups_and_restores_them(tmp_path: Path) -> None:
    from kam_core.appdata import backup_summary, backups, replace_database, restore_backup

    db = tmp_path / "data" / "kam.duckdb"
    generations = [[f"gen{g}-{i}" for i in range(g + 1)] for g in range(5)]
    for g, names in enumerate(generations):
        replace_database([_export(tmp_path / f"src{g}", names)], db, keep=3, actor=LOCAL)
    assert _names(db) == generations[4]
    kept = backups(db)
    assert len(kept) == 3  # the last three replaced databases, newest first
    assert [_names(b.path) for b in kept] == [generations[3], generations[2], generations[1]]
    assert all(b.path.name.startswith("kam.duckdb.backup-") for b in kept)
    assert backup_summary(kept[0])["accounts"] == "4"
    # restore: the previous data is back, and what it replaced is the newest backup (undo)
    restored = restore_backup(db, keep=3, actor=LOCAL)
    assert restored == kept[0].path and not restored.exists()
    assert _names(db) == generations[3]
    assert [_names(b.path) for b in backups(db)] == [generations[4], generations[2], generations[1]]
    restore_backup(db, keep=3, actor=LOCAL)
    assert _names(db) == generations[4]


def test_a_failed_replacement_keeps_the_database_and_the_backups(tmp_path: Path) -> None:
    from kam_core.appdata import backups, replace_database
    from kam_core.errors import LoadError

    db = tmp_path / "kam.duckdb"
    replace_database([_export(tmp_path / "a", ["Alpha"])], db, keep=3, actor=LOCAL)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "contacts.csv").write_text("contact_id,account_id\nC-1,A-0\n", encoding="utf-8")
    with pytest.raises(LoadError):
        replace_database([bad], db, keep=3, actor=LOCAL)
    assert _names(db) == ["Alpha"] and backups(db) == []


def test_no_backups_when_none_are_kept_and_nothing_to_restore(tmp_path: Path) -> None:
    from kam_core.appdata import backups, replace_database, restore_backup
    from kam_core.errors import KamError

    db = tmp_path / "kam.duckdb"
    replace_database([_export(tmp_path / "a", ["Alpha"])], db, keep=0, actor=LOCAL)
    replace_database([_export(tmp_path / "b", ["Beta"])], db, keep=0, actor=LOCAL)
    assert backups(db) == [] and _names(db) == ["Beta"]
    with pytest.raises(KamError, match="There is no previous data to restore"):
        restore_backup(db, actor=LOCAL)


def _page(tmp_path: Path, monkeypatch, db: Path, page: str, session: dict | None = None):
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    for k, v in (session or {}).items():
        at.session_state[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _run(at):
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_data_page_asks_before_replacing_keeps_a_backup_and_restores_it(tmp_path: Path, monkeypatch) -> None:
    from kam_core.appdata import backups
    from kam_core.ingest.loader import load

    db = tmp_path / "kam.duckdb"
    load([_export(tmp_path / "old", ["Old-0", "Old-1"])], db)
    upload = _export(tmp_path / "upload", ["New-0", "New-1", "New-2"])
    at = _page(tmp_path, monkeypatch, db, "pages/6_data.py", {"_upload_dir": str(upload)})
    at.button(key="rebuild").click()
    _run(at)
    # a confirmation naming what is replaced by what; nothing happened yet
    assert [b.key for b in at.button if b.key in ("replace_confirm", "replace_cancel")] == [
        "replace_confirm", "replace_cancel"]
    assert any("accounts.csv" in m.value and "2 accounts" in m.value for m in at.markdown)
    at.button(key="replace_cancel").click()
    _run(at)
    assert _names(db) == ["Old-0", "Old-1"] and backups(db) == []
    at.button(key="rebuild").click()
    _run(at)
    at.button(key="replace_confirm").click()
    _run(at)
    assert _names(db) == ["New-0", "New-1", "New-2"]
    assert [_names(b.path) for b in backups(db)] == [["Old-0", "Old-1"]]
    # restore the previous data, after a confirmation
    at.button(key="restore").click()
    _run(at)
    assert _names(db) == ["New-0", "New-1", "New-2"]
    at.button(key="restore_confirm").click()
    _run(at)
    assert _names(db) == ["Old-0", "Old-1"]
    assert next(m.value for m in at.metric if m.label == "Accounts") == "2"
    assert [_names(b.path) for b in backups(db)] == [["New-0", "New-1", "New-2"]]  # the undo


def test_settings_reset_asks_first(tmp_path: Path, monkeypatch) -> None:
    from kam_core.ingest.loader import load

    db = tmp_path / "kam.duckdb"
    load([_export(tmp_path / "src", ["Alpha"])], db)
    (tmp_path / "kam.toml").write_text("half_life_days = 90\n", encoding="utf-8")
    at = _page(tmp_path, monkeypatch, db, "pages/7_settings.py")
    at.button(key="reset").click()
    _run(at)
    assert (tmp_path / "kam.toml").is_file()  # nothing reset yet
    at.button(key="reset_cancel").click()
    _run(at)
    assert (tmp_path / "kam.toml").read_text() == "half_life_days = 90\n"
    at.button(key="reset").click()
    _run(at)
    at.button(key="reset_confirm").click()
    _run(at)
    assert not (tmp_path / "kam.toml").exists()
    assert any(s.value == "Reset: every setting is at its default." for s in at.success)


def test_a_saved_setting_is_confirmed(tmp_path: Path, monkeypatch) -> None:
    from kam_core.ingest.loader import load

    db = tmp_path / "kam.duckdb"
    load([_export(tmp_path / "src", ["Alpha"])], db)
    at = _page(tmp_path, monkeypatch, db, "pages/7_settings.py")
    at.number_input(key="set_half_life_days").set_value(90)
    [b for b in at.button if b.label == "Save to kam.toml"][0].click()
    _run(at)
    assert "half_life_days = 90" in (tmp_path / "kam.toml").read_text()
    assert [s.value for s in at.success] == ["Saved: 1 setting(s) differ from the defaults, in kam.toml."]
    assert [t.value for t in at.toast] == ["Saved: 1 setting(s) differ from the defaults, in kam.toml."]
    _run(at)
    assert not at.success  # shown once


def test_cli_keeps_backups_and_restores(tmp_path: Path, capsys) -> None:
    from kam_core.appdata import backups
    from kam_core.cli import main

    db = tmp_path / "kam.duckdb"
    assert main(["load", str(_export(tmp_path / "a", ["Alpha"])), "--db", str(db)]) == 0
    assert main(["load", str(_export(tmp_path / "b", ["Beta"])), "--db", str(db), "--keep-backups", "2"]) == 0
    assert [_names(b.path) for b in backups(db)] == [["Alpha"]]
    capsys.readouterr()
    assert main(["restore", "--db", str(db), "--list"]) == 0
    assert capsys.readouterr().out.startswith(str(db) + ".backup-")
    assert main(["restore", "--db", str(db)]) == 0
    assert _names(db) == ["Alpha"] and [_names(b.path) for b in backups(db)] == [["Beta"]]
    assert main(["restore", "--db", str(tmp_path / "none.duckdb")]) == 1
    assert "There is no previous data to restore" in capsys.readouterr().err


# ---------------------------------------------------------------- 1. the SQL box on the Explore page


def test_sql_box_page_runs_comments_and_an_error_clears_the_result(tmp_path: Path, monkeypatch) -> None:
    from kam_core.ingest.loader import load

    db = tmp_path / "kam.duckdb"
    load([_export(tmp_path / "src", ["Alpha", "Beta"])], db)
    at = _page(tmp_path, monkeypatch, db, "pages/5_explore.py")
    at.text_area(key="explore_sql").set_value("select count(*) as n from accounts -- how many")
    at.button(key="explore_run").click()
    _run(at)
    assert not at.error and at.dataframe[-1].value["n"].tolist() == [2]
    results = len(at.dataframe)
    at.text_area(key="explore_sql").set_value("select length(repeat('x', 1000000000))")
    at.button(key="explore_run").click()
    _run(at)
    assert any("needed more than 1,024 MB" in e.value for e in at.error)
    assert len(at.dataframe) == results - 1  # the previous result is gone, not shown under the error


def test_restore_waits_for_no_load_it_is_refused_while_one_runs(tmp_path: Path) -> None:
    """A restore replaces the database like a load: while a load holds the lock it is refused
    with the load's message and the database and its backups stay as they are."""
    from kam_core.appdata import backups, replace_database, restore_backup
    from kam_core.errors import LoadError
    from kam_core.ingest.workspace import load_lock

    db = tmp_path / "kam.duckdb"
    replace_database([_export(tmp_path / "a", ["Alpha"])], db, keep=3, actor=LOCAL)
    replace_database([_export(tmp_path / "b", ["Beta"])], db, keep=3, actor=LOCAL)
    with load_lock(db, "loading b.csv"):
        with pytest.raises(LoadError, match="another load into kam.duckdb is running"):
            restore_backup(db, keep=3, actor=LOCAL)
    assert _names(db) == ["Beta"] and len(backups(db)) == 1
    restore_backup(db, keep=3, actor=LOCAL)  # once the load has finished
    assert _names(db) == ["Alpha"]


def test_mapping_screen_shows_hostile_headers_and_file_names_as_text(tmp_path: Path, monkeypatch) -> None:
    """An uploaded file's headers and name reach the mapping screen's captions and labels as
    text: no image is fetched, no link is live."""
    from streamlit.testing.v1 import AppTest

    from kam_core.ingest.loader import load

    from .conftest import ROOT

    old = tmp_path / "old"
    old.mkdir()
    (old / "accounts.csv").write_text("account_id,name\nA-1,Alpha\n", encoding="utf-8")
    db = tmp_path / "kam.duckdb"
    load([old], db)
    upload = tmp_path / "upload"
    upload.mkdir()
    headers = ["customerID", "companyName", *HOSTILE[:4]]
    rows = ["C1,Acme," + ",".join("x" for _ in HOSTILE[:4])]
    (upload / "customers www.evil.example.csv").write_text(
        ",".join(f'"{h}"' for h in headers) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setenv("KAM_DB", str(db))
    monkeypatch.setenv("KAM_CONFIG", str(tmp_path / "kam.toml"))
    monkeypatch.setenv("KAM_MAPPINGS", str(tmp_path / "mappings"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["_upload_dir"] = str(upload)
    at.switch_page("pages/6_data.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    strings = _markdown_of(at)
    shown = " ".join(_unescaped(s) for s in strings)
    assert "Not used:" in shown and HOSTILE[0] in shown  # the headers did reach the screen, as text
    live = [(s[:80], hit) for s in strings for hit in _live_from_data(s)]
    assert not live, live[:5]


def test_loads_restores_and_saved_mappings_need_the_right_to_load(tmp_path: Path) -> None:
    """Enforced in kam_core, not only in the page: a viewer or a mentor is refused with the
    role the action needs, and nothing changes."""
    from kam_core.access import AccessDenied, Actor, Role
    from kam_core.appdata import backups, replace_database, restore_backup
    from kam_core.ingest.importers.mapping import Mapping, save_mapping

    db = tmp_path / "kam.duckdb"
    replace_database([_export(tmp_path / "a", ["Alpha"])], db, keep=3, actor=LOCAL)
    replace_database([_export(tmp_path / "b", ["Beta"])], db, keep=3, actor=LOCAL)
    for role in (Role.VIEWER, Role.MENTOR, Role.MANAGEMENT):
        someone = Actor(identity="x@example.com", name="X", roles=frozenset({role}), signed_in=True)
        with pytest.raises(AccessDenied, match="needs the role admin"):
            replace_database([_export(tmp_path / "c", ["Gamma"])], db, keep=3, actor=someone)
        with pytest.raises(AccessDenied, match="needs the role admin"):
            restore_backup(db, keep=3, actor=someone)
        with pytest.raises(AccessDenied, match="needs the role admin"):
            save_mapping(Mapping(), tmp_path / "maps", "crm", actor=someone)
    assert _names(db) == ["Beta"] and len(backups(db)) == 1 and not (tmp_path / "maps").exists()
