"""Streamlit-only helpers shared by the pages: connection, settings, navigation, shared filters,
formatting and the visual language. Business logic lives in ``kam_core``; this module only
wires it to widgets.

Layout note: the pages live in ``pages/`` and Streamlit runs them in its pages-directory mode
(every page is a script that calls ``setup_page`` first). That is what makes a deep link to
any page work on first load; the shared filters are rendered by every page and mirrored into
non-widget session keys and the URL query parameters, so they survive page switches and can be
shared as a link.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from kam_core.appdata import database_path, ensure_database, settings_path
from kam_core.dataset import Overlay, open_dataset
from kam_core.errors import KamError
from kam_core.settings import Settings

PAGES: list[tuple[str, str, str]] = [
    ("app.py", "Home", ":material/home:"),
    ("pages/1_portfolio.py", "Portfolio", ":material/grid_view:"),
    ("pages/2_account.py", "Account", ":material/person_search:"),
    ("pages/3_relationships.py", "Relationships", ":material/hub:"),
    ("pages/4_growth.py", "Growth", ":material/trending_up:"),
    ("pages/5_explore.py", "Explore", ":material/query_stats:"),
    ("pages/6_data.py", "Data", ":material/database:"),
    ("pages/7_settings.py", "Settings", ":material/tune:"),
    ("pages/8_definitions.py", "Definitions", ":material/menu_book:"),
]

# One visual language: fixed colours per tier rank, quadrant, status and attitude.
TIER_COLOURS = ["#C9A227", "#8E9AAF", "#B87333", "#BDBDBD", "#9E9E9E", "#757575"]
QUADRANT_COLOURS = {"strategic": "#1F4E79", "star": "#2E8B57", "status": "#E69F00", "streamline": "#9E9E9E"}
STATUS_COLOURS = {"green": "#2E7D32", "amber": "#F9A825", "red": "#C62828", "no data": "#BDBDBD"}
ATTITUDE_COLOURS = {"champion": "#1B5E20", "supporter": "#66BB6A", "neutral": "#9E9E9E",
                    "skeptic": "#FFA726", "opponent": "#C62828"}
STATUS_BADGES = {"green": ":green-badge[green]", "amber": ":orange-badge[amber]", "red": ":red-badge[red]",
                 "no data": ":gray-badge[no data]"}

ROOT = Path(__file__).resolve().parent
_lock = threading.Lock()
_conn: dict[str, object] = {"key": None, "con": None}


# ---------------------------------------------------------------- data access


def db_key() -> tuple[str, int, int]:
    """Identifies the database file's current version (changes when a load swaps it)."""
    db = database_path()
    stat = db.stat()
    return (str(db), stat.st_mtime_ns, stat.st_ino)


def dataset_overlay() -> Overlay | None:
    """What ``open_dataset`` lays over the export for the app and the SQL box (the team's edits,
    from the workbench); None: the export as loaded. Must be picklable (the SQL box runs in a
    worker process): a module-level function or a ``functools.partial`` of one."""
    return None


def connection() -> duckdb.DuckDBPyConnection:
    """A cursor on the shared dataset connection of the database's current version.

    A DuckDB connection is not thread-safe and Streamlit runs sessions in threads, so every
    query runs on its own cursor. When a load has replaced the file, a new dataset connection
    attaches the new file; the old one is dropped but not closed: cursors still reading from it
    keep it (and the old file) alive and finish on the old data (``kam_core.dataset``); the
    last cursor gone, DuckDB closes it and the old file's space is freed.
    """
    return dataset()[1].cursor()


def dataset() -> tuple[tuple[str, int, int], duckdb.DuckDBPyConnection]:
    """The current database version's key and its shared dataset connection, which reads
    exactly that version: a page run keys its caches with the one and queries the other."""
    with _lock:
        for _ in range(10):
            key = db_key()
            if _conn["key"] == key:
                return key, _conn["con"]
            con = open_dataset(key[0], dataset_overlay())
            if db_key() == key:
                _conn["key"], _conn["con"] = key, con
                return key, con
            con.close()  # a load swapped the file while it was attached: which one is unknown
        _conn["key"], _conn["con"] = key, con = db_key(), open_dataset(key[0], dataset_overlay())
        return key, con


@st.cache_resource(show_spinner="Building the database from the demo CRM export …")
def _ensure_database(path: str) -> None:
    ensure_database(Path(path))


def load_settings() -> Settings:
    """Settings from kam.toml, with this session's unsaved overrides (weight editor) on top."""
    path = settings_path()
    base = _settings_from_file(str(path), path.stat().st_mtime_ns if path.is_file() else 0)
    overrides = st.session_state.get("_settings_overrides") or {}
    if overrides:
        try:
            return base.replace(**overrides)
        except KamError as exc:
            st.warning(f"Session overrides ignored: {md(exc)}")
    return base


def saved_settings() -> Settings:
    """The settings in kam.toml, without this session's overrides."""
    path = settings_path()
    return _settings_from_file(str(path), path.stat().st_mtime_ns if path.is_file() else 0)


def set_session_override(name: str, value) -> None:
    """Change a setting for this session only (the weight editor); {} or None removes it."""
    overrides = dict(st.session_state.get("_settings_overrides") or {})
    if value in ({}, None):
        overrides.pop(name, None)
    else:
        overrides[name] = value
    st.session_state["_settings_overrides"] = overrides


@st.cache_data(show_spinner=False)
def _settings_from_file(path: str, mtime: int) -> Settings:
    try:
        return Settings.from_file(path) if Path(path).is_file() else Settings()
    except KamError as exc:
        st.error(f"{md(exc)} — the defaults are used until the file is fixed (Settings page).")
        return Settings()


# ---------------------------------------------------------------- page frame


@dataclass
class PageContext:
    con: duckdb.DuckDBPyConnection
    settings: Settings
    db_key: tuple
    as_of: dt.date
    filters: dict[str, list[str]] = field(default_factory=dict)

    @property
    def settings_key(self) -> str:
        return self.settings.cache_key()


def setup_page(title: str, icon: str = "♚", caption: str | None = None) -> PageContext:
    """Every page starts here: page config, database, navigation, settings, as-of date."""
    st.set_page_config(page_title=f"{title} · KAM dashboard", page_icon=icon, layout="wide")
    _ensure_database(str(database_path()))
    with st.sidebar:
        st.markdown("### ♚ KAM dashboard")
        for path, label, page_icon in PAGES:
            if (ROOT / path).is_file():
                st.page_link(path, label=label, icon=page_icon)
    settings = load_settings()
    key, shared = dataset()
    con = shared.cursor()
    from kam_core.asof import resolve_as_of

    as_of = resolve_as_of(con, settings)
    st.title(title)
    if caption:
        st.caption(caption)
    return PageContext(con=con, settings=settings, db_key=key, as_of=as_of)


def definition_link(anchor: str, text: str = "definition") -> str:
    """Markdown link to a metric's definition on the Definitions page."""
    # Streamlit turns a heading's underscores into hyphens in its anchor
    return f"[{text}](/definitions#{anchor.replace('_', '-')})"


def explain(text: str, anchor: str | None = None) -> None:
    """The short 'what this shows' line under a chart."""
    st.caption(text + (f" · {definition_link(anchor)}" if anchor else ""))


def empty_state(message: str) -> None:
    st.info(message, icon=":material/info:")


def show_error(exc: Exception) -> None:
    # messages quote values from files and queries: escaped line by line, line breaks kept
    st.error("  \n".join(md(line) for line in str(exc).splitlines()), icon=":material/error:")


# ---------------------------------------------------------------- text from data in markdown

# characters with a meaning in Streamlit's markdown anywhere in a line; "_" only where it can
# open or close emphasis (not inside a word such as account_id)
_MD_SPECIAL = re.compile(r"[\\`*~\[\]<>$:&#|{}]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_LINE_START = re.compile(r"^(\s*)(?:([-+=>])|(\d+)([.)]))")  # a list, quote or heading marker
# matched by Streamlit after escapes are resolved: bare URLs, e-mail addresses, :material/icons:
_AUTOLINK_START = re.compile(r"(?i)https?(?=:)|www(?=\.)|@|:(?=material/)")
WORD_JOINER = "\u2060"


def md(value: object) -> str:
    """A value from the data, safe inside a markdown string: it shows as written, and nothing
    in it becomes a link, an image, HTML, math, a colour, an icon or formatting.

    Characters with a markdown meaning are backslash-escaped (CommonMark allows it for every
    ASCII punctuation character): ``![x](url)``, ``[x](url)``, ``<url>``, ``$math$``,
    ``:red[...]``, backticks, emphasis, and a list or heading marker at the start. Streamlit's
    markdown also links bare ``http://``, ``www.`` and e-mail addresses *after* escapes are
    resolved, so an invisible word joiner (U+2060) goes after ``http``/``https``/``www``,
    ``@`` and the colon of ``:material/icon:``. Line breaks become spaces: a value stays on its line. Use it on every value from
    data (names, titles, file names, reasons, messages quoting them) in st.markdown, captions,
    messages and labels — not on the app's own markdown around it.
    """
    text = re.sub(r"[\r\n]+", " ", str(value))
    text = _AUTOLINK_START.sub(lambda m: m.group(0) + WORD_JOINER, text)
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    return _LINE_START.sub(lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"),
                           text)


_CHART_TEXT = ("x", "y", "text", "hovertext", "labels", "name", "customdata")


def _chart_safe(value):
    """Plotly renders tags (``<a href>``, ``<b>``) in a chart's texts and decodes entities:
    a value from the data is HTML-escaped, so it shows as written and links nothing."""
    import numpy as np

    if isinstance(value, str):
        return html.escape(value, quote=False) if ("<" in value or "&" in value) else value
    if isinstance(value, np.ndarray) and value.dtype.kind in "OU":
        return np.vectorize(_chart_safe, otypes=[object])(value) if value.size else value
    if isinstance(value, (list, tuple)):
        return type(value)(_chart_safe(v) for v in value)
    return value


def _escape_chart(fig) -> None:
    for trace in fig.data:
        # plotly express writes a colour group's value into the hover template ("tier=Gold<br>")
        name = trace["name"] if "name" in trace else None
        template = trace["hovertemplate"] if "hovertemplate" in trace else None
        if isinstance(name, str) and isinstance(template, str) and name in template:
            trace["hovertemplate"] = template.replace(f"={name}<", f"={_chart_safe(name)}<")
        for attr in _CHART_TEXT:
            if attr in trace and trace[attr] is not None:
                trace[attr] = _chart_safe(trace[attr])
    for update in (fig.for_each_xaxis, fig.for_each_yaxis):
        update(lambda ax: ax.update(categoryarray=_chart_safe(ax.categoryarray))
               if ax.categoryarray is not None else None)


# ---------------------------------------------------------------- cached metrics


def loaded(ctx: PageContext) -> set[str]:
    from kam_core.ingest.schema import loaded_tables

    return loaded_tables(ctx.con)


@st.cache_data(show_spinner="Computing coverage, growth and health …", max_entries=4)
def _base(db: tuple, base_key: str, as_of: dt.date, _settings: Settings, _con: duckdb.DuckDBPyConnection):
    from kam_core.metrics.overview import base_metrics

    return base_metrics(_con, _settings, as_of)


def base_metrics(ctx: PageContext):
    from kam_core.metrics.overview import base_key

    return _base(ctx.db_key, base_key(ctx.settings), ctx.as_of, ctx.settings, ctx.con)


@st.cache_data(show_spinner="Scoring the portfolio …", max_entries=16)
def _scores(db: tuple, settings_key: str, as_of: dt.date, _settings: Settings, _base_metrics, _con):
    from kam_core.metrics.portfolio import score_portfolio

    return score_portfolio(_con, _settings, as_of, metrics=_base_metrics.metrics)


def scores(ctx: PageContext, settings: Settings | None = None):
    """Portfolio scores under ``settings`` (default: the page's), from the cached base metrics."""
    settings = settings or ctx.settings
    return _scores(ctx.db_key, settings.cache_key(), ctx.as_of, settings, base_metrics(ctx), ctx.con)


@st.cache_data(show_spinner=False, max_entries=16)
def _overview(db: tuple, settings_key: str, as_of: dt.date, _settings: Settings, _base_metrics, _scores, _con):
    from kam_core.metrics.overview import account_overview

    return account_overview(_con, _settings, _base_metrics, _scores)


def account_table(ctx: PageContext) -> pd.DataFrame:
    """The account table every page filters: attributes, scores, growth, coverage, health."""
    base = base_metrics(ctx)
    return _overview(ctx.db_key, ctx.settings_key, ctx.as_of, ctx.settings, base, scores(ctx), ctx.con)


@st.cache_data(show_spinner=False, max_entries=128)
def _call(module: str, name: str, db: tuple, settings_key: str, as_of: dt.date, args_key: str,
          _settings: Settings, _kwargs: dict, _con: duckdb.DuckDBPyConnection):
    import importlib

    func = getattr(importlib.import_module(module), name)
    return func(_con, _settings, as_of, **_kwargs)


def cached(ctx: PageContext, func, **kwargs):
    """``func(con, settings, as_of, **kwargs)`` from a kam_core module, cached per database
    version, settings, as-of date and arguments (shared by every session)."""
    args_key = repr(sorted(kwargs.items()))
    return _call(func.__module__, func.__name__, ctx.db_key, ctx.settings_key, ctx.as_of, args_key,
                 ctx.settings, kwargs, ctx.con)


def criteria_table(ctx: PageContext) -> pd.DataFrame | None:
    """The loaded criteria (weights as loaded), or None without a criteria table."""
    if "criteria" not in loaded(ctx):
        return None
    return ctx.con.execute("select criterion_id, name, axis, source, weight from criteria "
                           "order by axis, criterion_id").df()


def selected_account(event) -> str | None:
    """The account_id of the bubble clicked in a chart whose customdata starts with it."""
    try:
        points = event.selection.points
    except AttributeError:
        return None
    for p in points:
        data = p.get("customdata") if isinstance(p, dict) else None
        if data:
            return html.unescape(str(data[0]))  # ui.chart escaped it
    return None


def filtered_ids(accounts: pd.DataFrame, filters: dict[str, list[str]]) -> list[str] | None:
    from kam_core.filters import filtered_account_ids

    return filtered_account_ids(accounts, filters)


# ---------------------------------------------------------------- shared filters

FILTERS: list[tuple[str, str, str]] = [
    # (query parameter, label, column of the account table)
    ("tier", "Tier", "tier"),
    ("quadrant", "Quadrant", "quadrant"),
    ("status", "Health status", "status"),
    ("region", "Region", "region"),
    ("industry", "Industry", "industry"),
    ("manager", "Account manager", "account_manager"),
    ("mentor", "Mentor", "mentor"),
    ("phase", "Phase", "phase"),
]


def shared_filters(accounts: pd.DataFrame) -> dict[str, list[str]]:
    """Render the shared filters in the sidebar and return the selections.

    The selection lives in non-widget session keys (``_f_<name>``), survives page switches,
    and is mirrored into the URL query parameters (``?tier=Gold&region=DACH``).
    """
    selections: dict[str, list[str]] = {}
    with st.sidebar:
        st.markdown("#### Filters")
        for name, label, column in FILTERS:
            if column not in accounts.columns:
                continue
            options = sorted(str(v) for v in accounts[column].dropna().unique())
            store, widget = f"_f_{name}", f"w_{name}"
            if store not in st.session_state:
                st.session_state[store] = st.query_params.get_all(name)
            st.session_state[store] = [v for v in st.session_state[store] if v in options]
            st.session_state[widget] = list(st.session_state[store])
            st.multiselect(label, options, key=widget, on_change=_copy_widget, args=(widget, store),
                           placeholder="all")
            selections[column] = list(st.session_state[store])
            _to_query_params(name, selections[column])
        if any(selections.values()) and st.button("Clear filters", icon=":material/filter_alt_off:"):
            for name, _, _ in FILTERS:
                st.session_state[f"_f_{name}"] = []
                if name in st.query_params:
                    del st.query_params[name]
            st.rerun()
    return selections


def _copy_widget(widget: str, store: str) -> None:
    st.session_state[store] = list(st.session_state[widget])


def _to_query_params(name: str, values: list[str]) -> None:
    current = st.query_params.get_all(name)
    if values and current != values:
        st.query_params[name] = values
    elif not values and name in st.query_params:
        del st.query_params[name]


# ---------------------------------------------------------------- formatting


def money(value: float | None, currency: str) -> str:
    if value is None or pd.isna(value):
        return "–"
    sign = "−" if value < 0 else ""
    v = abs(value)
    if v >= 1e9:
        return f"{sign}{v / 1e9:.2f} bn {currency}"
    if v >= 1e8:
        return f"{sign}{v / 1e6:.0f} m {currency}"
    if v >= 1e6:
        return f"{sign}{v / 1e6:.1f} m {currency}"
    if v >= 1e3:
        return f"{sign}{v / 1e3:.0f} k {currency}"
    return f"{sign}{v:.0f} {currency}"


def pct(value: float | None, digits: int = 0, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "–"
    text = f"{value * 100:+.{digits}f} %" if signed else f"{value * 100:.{digits}f} %"
    return text.replace("-", "−")


def tier_colour_map(tier_names: list[str]) -> dict[str, str]:
    return {name: TIER_COLOURS[min(i, len(TIER_COLOURS) - 1)] for i, name in enumerate(tier_names)}


# ---------------------------------------------------------------- charts


def chart(fig, key: str | None = None, height: int = 380, **kwargs) -> object:
    """Render a plotly figure in the app's style (texts from the data escaped)."""
    _escape_chart(fig)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), template="plotly_white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
                      font=dict(family="Source Sans Pro, sans-serif", size=13))
    return st.plotly_chart(fig, width="stretch", key=key, **kwargs)


def filtered_view(accounts: pd.DataFrame, filters: dict[str, list[str]]) -> tuple[pd.DataFrame, list[str] | None]:
    """The filtered account table and the ID list (None = no filter)."""
    ids = filtered_ids(accounts, filters)
    view = accounts if ids is None else accounts[accounts["account_id"].isin(ids)]
    if ids is not None:
        st.caption(f"Filtered: {len(view):,} of {len(accounts):,} accounts.")
    return view, ids
