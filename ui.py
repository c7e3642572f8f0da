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
from typing import Any

import duckdb
import pandas as pd
import plotly.io as pio
import streamlit as st

from kam_core import access
from kam_core.appdata import database_path, ensure_database, settings_path
from kam_core.dataset import Overlay, open_dataset
from kam_core.errors import KamError
from kam_core.settings import Settings

PAGES: list[tuple[str, str, str]] = [
    ("app.py", "Home", ":material/home:"),
    ("pages/1_portfolio.py", "Portfolio", ":material/grid_view:"),
    ("pages/2_account.py", "Account", ":material/person_search:"),
    ("pages/9_reviews.py", "Reviews", ":material/event_available:"),
    ("pages/3_relationships.py", "Relationships", ":material/hub:"),
    ("pages/4_growth.py", "Growth", ":material/trending_up:"),
    ("pages/5_explore.py", "Explore", ":material/query_stats:"),
    ("pages/6_data.py", "Data", ":material/database:"),
    ("pages/7_settings.py", "Settings", ":material/tune:"),
    ("pages/8_definitions.py", "Definitions", ":material/menu_book:"),
]

# Every chart in plotly's white template, as the default a figure takes as it is made (2 ms):
# set on each figure it took 25 ms a chart (plotly validates and copies a template it is given).
# (After streamlit's import, which makes its own template the default.) The name is stored
# as plotly's setter stores it, without the setter's check of the template, which copies it
# with every property validated (60-80 ms of the first page); plotly reads its own built-in
# templates unvalidated. test_every_page_renders checks that every chart is white.
if isinstance(getattr(pio.templates, "_default", None), str) and "plotly_white" in pio.templates:
    pio.templates._default = "plotly_white"
else:  # (plotly keeps the default elsewhere: its public setter)
    pio.templates.default = "plotly_white"

# One visual language: fixed colours per tier rank, quadrant, status and attitude.
TIER_COLOURS = ["#C9A227", "#8E9AAF", "#B87333", "#BDBDBD", "#9E9E9E", "#757575"]
# red, amber and green mean health (bad, watch, good) and nothing else: no quadrant, product
# line or series takes them
QUADRANT_COLOURS = {"strategic": "#1F4E79", "star": "#6A4C93", "status": "#00838F", "streamline": "#78909C"}
SERIES_COLOURS = {"revenue": "#1F4E79", "gross margin": "#263238", "weighted": "#1F4E79", "amount": "#9FB3C8",
                  "whitespace": "#C9D6E3"}
# product lines and other categories without a meaning of their own
CATEGORY_COLOURS = ["#1F4E79", "#5B9BD5", "#6A4C93", "#B497D6", "#00838F", "#80CBC4", "#546E7A", "#A1887F",
                    "#90A4AE", "#3949AB"]
STATUS_COLOURS = {"green": "#2E7D32", "amber": "#F9A825", "red": "#C62828", "no data": "#BDBDBD"}
ATTITUDE_COLOURS = {"champion": "#1B5E20", "supporter": "#66BB6A", "neutral": "#9E9E9E",
                    "skeptic": "#FFA726", "opponent": "#C62828"}
STATUS_BADGES = {"green": ":green-badge[green]", "amber": ":orange-badge[amber]", "red": ":red-badge[red]",
                 "no data": ":gray-badge[no data]"}
RATING_BADGES = {"on_track": ":green-badge[on track]", "at_risk": ":orange-badge[at risk]",
                 "off_track": ":red-badge[off track]"}

ROOT = Path(__file__).resolve().parent
_lock = threading.Lock()
_conn: dict[str, object] = {"key": None, "con": None}


# ---------------------------------------------------------------- data access


def workbench_store() -> Path:
    """The workbench store of the app's database (setting ``workbench_path``)."""
    from kam_core.workbench.store import store_path_for

    return store_path_for(database_path(), saved_settings())


def db_key() -> tuple:
    """Identifies the database file's current version (changes when a load swaps it)."""
    db = database_path()
    stat = db.stat()
    return (str(db), stat.st_mtime_ns, stat.st_ino)


def dataset_overlay() -> Overlay | None:
    """What ``open_dataset`` lays over the export for the app and the SQL box (the team's edits,
    from the workbench); None: the export as loaded. Must be picklable (the SQL box runs in a
    worker process): a module-level function or a ``functools.partial`` of one."""
    from kam_core.workbench.overlay import overlay_for

    return overlay_for(workbench_store())


def data_key() -> tuple:
    """The version of what the pages show: the database file's (``db_key``) and the workbench
    store's (``store_version``: a new one with every save), so an edit reaches every page's
    caches at once."""
    from kam_core.workbench.store import store_version

    return (*db_key(), store_version(workbench_store()))


def connection() -> duckdb.DuckDBPyConnection:
    """A cursor on the shared dataset connection of the database's current version.

    A DuckDB connection is not thread-safe and Streamlit runs sessions in threads, so every
    query runs on its own cursor. When a load has replaced the file, a new dataset connection
    attaches the new file; the old one is dropped but not closed: cursors still reading from it
    keep it (and the old file) alive and finish on the old data (``kam_core.dataset``); the
    last cursor gone, DuckDB closes it and the old file's space is freed.
    """
    return dataset()[1].cursor()


def dataset() -> tuple[tuple, duckdb.DuckDBPyConnection]:
    """The current data version's key (``data_key``: database and workbench store) and its
    shared dataset connection, which reads exactly that version: a page run keys its caches
    with the one and queries the other."""
    with _lock:
        for _ in range(10):
            key = data_key()
            if _conn["key"] == key:
                return key, _conn["con"]
            con = open_dataset(key[0], dataset_overlay())
            if data_key() == key:
                _conn["key"], _conn["con"] = key, con
                return key, con
            con.close()  # a load or a save changed the data while it was read: which one is unknown
        _conn["key"], _conn["con"] = key, con = data_key(), open_dataset(key[0], dataset_overlay())
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
    actor: access.Actor | None = None
    currency: str = "EUR"  # the currency the loaded amounts are in (``data_currency``)

    @property
    def settings_key(self) -> str:
        return self.settings.cache_key()


def favicon(glyph: str) -> str:
    """A page's icon: one glyph drawn in an SVG, as Streamlit draws an emoji, but written in
    ASCII (character references), so that Streamlit takes it for an image, not an emoji —
    telling an emoji imports its emoji catalogue, 70–105 ms on the first page a server
    draws — and without a Material icon's request to a font server.

    >>> favicon("♚")
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><text y=".9em" font-size="90">&#9818;</text></svg>'
    """
    text = "".join(f"&#{ord(ch)};" for ch in glyph)
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><text y=".9em" font-size="90">{text}</text></svg>'


def _not_a_repl() -> None:
    """Spare the first page Streamlit's REPL check. At the first element a process draws,
    Streamlit asks whether it runs in a Python REPL (to print "use streamlit run" there):
    ``inspect.stack()``, which maps every loaded module to its file — 0.1 s of the first page
    with pandas, plotly and DuckDB loaded. A script run by Streamlit (a server, or AppTest) is
    not in a REPL; the flag is the one Streamlit sets after its check
    (``test_the_first_page_skips_streamlits_repl_check`` notices if it goes)."""
    from streamlit import delta_generator
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    if get_script_run_ctx() is not None:
        delta_generator._use_warning_has_been_displayed = True


def setup_page(title: str, icon: str = "♚", caption: str | None = None) -> PageContext:
    """Every page starts here: page config, sign-in, database, navigation, settings, as-of date."""
    _not_a_repl()
    present = presenting()
    st.set_page_config(page_title=f"{title} · KAM dashboard", page_icon=favicon(icon), layout="wide",
                       initial_sidebar_state="collapsed" if present else "auto")
    st.html(page_style(present))
    actor = require_sign_in()  # with [auth] in secrets.toml nothing below runs before sign-in
    _ensure_database(str(database_path()))
    with st.sidebar:
        st.markdown("### ♚ KAM dashboard")
        for path, label, page_icon in PAGES:
            if (ROOT / path).is_file():
                st.page_link(path, label=label, icon=page_icon)
    settings = load_settings()
    key, shared = dataset()
    con = shared.cursor()
    identity_sidebar(actor, con)
    from kam_core.asof import resolve_as_of

    as_of = resolve_as_of(con, settings)
    _to_query_params(PRESENT, ["1"] if presenting() else [])
    st.title(title)
    if caption:
        st.caption(caption)
    return PageContext(con=con, settings=settings, db_key=key, as_of=as_of, actor=current_actor(),
                       currency=data_currency(key, con, settings.currency))


@st.cache_data(show_spinner=False, max_entries=8)
def _data_currency(db: tuple, fallback: str, _con: duckdb.DuckDBPyConnection) -> str:
    found = []
    if "load_info" in {name for (name,) in _con.execute("show tables").fetchall()}:
        found = _con.execute("select value from load_info where key = 'currency'").fetchall()
    return found[0][0] if found and found[0][0] else fallback


def data_currency(db: tuple, con: duckdb.DuckDBPyConnection, fallback: str) -> str:
    """The currency the loaded amounts are in: what the load recorded (``load_info``; after a
    Salesforce load without ``currency`` set, the export's corporate currency), else the
    setting ``currency``. Every page labels money with it (``ctx.currency``)."""
    return _data_currency(db, fallback, con)


# ---------------------------------------------------------------- presentation mode

PRESENT = "present"  # query parameter of the presentation mode (?present=1)

_STYLE = """<style>
/* a headline figure, its label and its note are never cut off: they wrap rather than end in
   an ellipsis, and the figure's type shrinks with the window */
[data-testid="stMetric"] [data-testid="stMarkdownContainer"] { overflow: visible; text-overflow: clip;
  white-space: normal; }
[data-testid="stMetric"] [data-testid="stMarkdownContainer"] p { white-space: normal; }
[data-testid="stMetricValue"] { font-size: clamp(1.35rem, 2.05vw, 2.1rem); line-height: 1.2; }
</style>"""
_PRESENT_STYLE = """<style>
/* presentation mode: larger type for a projector, less chrome */
html { font-size: 19px; }
[data-testid="stMetricValue"] { font-size: clamp(1.6rem, 2.6vw, 2.6rem); }
[data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
[data-testid="stCaptionContainer"] { font-size: 0.95rem; }
</style>"""


def page_style(present: bool) -> str:
    """The app's own CSS (no data in it): figures that wrap instead of truncating, and the
    larger type of the presentation mode."""
    return _STYLE + (_PRESENT_STYLE if present else "")


def presenting() -> bool:
    """Whether the presentation mode is on: for a meeting on a projector, the sidebar starts
    collapsed and the type is larger. In the URL as ``?present=1`` (so a link opens in it);
    survives page switches."""
    if "_present" not in st.session_state:
        st.session_state["_present"] = st.query_params.get(PRESENT) in ("1", "true")
    return bool(st.session_state["_present"])


def presentation_toggle() -> None:
    """The presentation mode's switch, at the end of the sidebar (``shared_filters`` renders
    it; a page without filters calls it)."""
    with st.sidebar:
        st.session_state["w_present"] = presenting()
        st.toggle("Presentation mode", key="w_present", on_change=_copy_present,
                  help="Larger type and the sidebar collapsed, for a meeting on a projector. "
                  "A link with ?present=1 opens in it.")


def _copy_present() -> None:
    st.session_state["_present"] = bool(st.session_state["w_present"])
    _to_query_params(PRESENT, ["1"] if st.session_state["_present"] else [])


# ---------------------------------------------------------------- sign-in and identity


def auth_section() -> dict | None:
    """The ``[auth]`` section of ``.streamlit/secrets.toml`` (None without one: local use)."""
    try:
        if not st.secrets.load_if_toml_exists() or "auth" not in st.secrets:
            return None
        section = st.secrets["auth"]
    except Exception:  # an unreadable secrets file: Streamlit logs why; the app runs locally
        return None
    return section.to_dict() if hasattr(section, "to_dict") else dict(section)


def sign_in_enabled() -> bool:
    """Whether sign-in is configured (an ``[auth]`` section exists)."""
    return auth_section() is not None


def _signed_in() -> bool:
    return bool(st.user.get("is_logged_in", False))


def current_actor() -> access.Actor:
    """Who is using the app now: the signed-in user with their roles from kam.toml, or, without
    sign-in, the one local user (every right) as the team member chosen in the sidebar.

    The workbench and the review record ``actor.identity`` (and show ``actor.name``) and pass the
    actor to ``kam_core.access.require`` before every write.
    """
    settings = saved_settings()  # the file's roles, never this session's overrides
    if sign_in_enabled():
        if not _signed_in():
            return access.Actor(identity="anonymous", name="not signed in", signed_in=True,
                                policy=access.policy(settings))
        return access.resolve_actor(st.user.to_dict(), settings)
    return access.local_actor(st.session_state.get("_whoami"), st.session_state.get("_whoami_name"),
                              policy=access.policy(settings))


def require_sign_in() -> access.Actor:
    """With sign-in configured: the sign-in screen (and ``st.stop()``) until the user is signed
    in with a role; nothing else of the app (no page, data or filter) is rendered before."""
    auth = auth_section()
    if auth is None:
        return current_actor()
    if not _signed_in():
        st.title("♚ KAM dashboard")
        st.markdown("Sign in to see the key accounts.")
        problems = access.auth_problems(auth)
        if problems:
            st.error("Sign-in is configured in .streamlit/secrets.toml but cannot work: " + "; ".join(problems)
                     + ". See docs/sign-in.md.", icon=":material/error:")
            st.stop()
        for provider in access.providers(auth):
            if st.button(f"Sign in with {provider.label}", type="primary", icon=":material/login:",
                         key=f"sign_in_{provider.name or 'default'}"):
                try:
                    st.login(provider.name)
                except Exception as exc:  # Authlib missing, secrets incomplete: say so, show nothing else
                    st.error(f"Sign-in failed: {md(exc)}", icon=":material/error:")
        st.stop()
    actor = current_actor()
    if not actor.roles:
        st.title("♚ KAM dashboard")
        st.warning(f"You are signed in as {md(actor.label)}, but you have no role in this dashboard. "
                   "Ask an admin to add your e-mail or one of your groups to the roles in kam.toml.",
                   icon=":material/lock:")
        if st.button("Sign out", icon=":material/logout:", key="sign_out_no_role"):
            st.logout()
        st.stop()
    return actor


def identity_sidebar(actor: access.Actor, con) -> None:
    """Who is signed in, their role and sign out; without sign-in, "who am I" (once per session)."""
    with st.sidebar:
        if actor.signed_in:
            member = f" · team member {actor.member_id}" if actor.member_id else ""
            st.caption(f":material/account_circle: **{md(actor.name)}**  \n{md(actor.identity)} · "
                       f"{md(actor.role_label)}{md(member)}")
            if st.button("Sign out", icon=":material/logout:", key="sign_out"):
                st.logout()
            return
        members = access.team_members(con)
        if not members:  # no team table loaded: a name, typed once per session
            st.session_state["w_whoami_name"] = st.session_state.get("_whoami_name") or ""
            st.text_input("Who am I", key="w_whoami_name", on_change=_copy_whoami_name,
                          placeholder="your name (named in the history)",
                          help="Without sign-in everyone has every right; the team's edits record this name.")
            return
        names = dict(members)
        if "_whoami" in st.session_state and st.session_state["_whoami"] not in names:  # another team loaded
            st.session_state.pop("_whoami")
            st.session_state.pop("_whoami_name", None)
        st.session_state["w_whoami"] = st.session_state.get("_whoami")
        st.selectbox("Who am I", list(names), format_func=lambda m: f"{names[m]} ({m})", key="w_whoami",
                     placeholder="choose yourself (named in the history)",
                     on_change=_copy_whoami, args=(names,),
                     help="Without sign-in everyone has every right; the team's edits record the member "
                     "chosen here. Sign-in and roles: docs/sign-in.md.")


def _copy_whoami(names: dict[str, str]) -> None:
    chosen = st.session_state.get("w_whoami")
    st.session_state["_whoami"] = chosen
    st.session_state["_whoami_name"] = names.get(chosen)
    if chosen is None:
        st.session_state.pop("_whoami", None)
        st.session_state.pop("_whoami_name", None)


def _copy_whoami_name() -> None:
    st.session_state["_whoami_name"] = st.session_state["w_whoami_name"].strip() or None


def permitted(action: access.Action, account=None, *, note: bool = True) -> bool:
    """Whether the current user may do ``action``; if not (and ``note``), say which role it needs."""
    message = access.refusal(current_actor(), action, account)
    if message is not None and note:
        st.info(md(message), icon=":material/lock:")  # it names the user: escaped as data
    return message is None


def _own_ids(member_id: str | None) -> list[str]:
    return access.own_account_ids(connection(), member_id)


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
    table = _overview(ctx.db_key, ctx.settings_key, ctx.as_of, ctx.settings, base, scores(ctx), ctx.con)
    actor = current_actor()
    if access.reads_only_own(actor):  # scope_to_own_accounts: the rest is not theirs to see
        table = table[table["account_id"].isin(_own_ids(actor.member_id))]
    return table


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
    ignored: list[tuple[str, list[str]]] = []
    with st.sidebar:
        st.markdown("#### Filters")
        mine = my_accounts_filter()
        if mine is not None:
            selections["account_id"] = mine
        for name, label, column in FILTERS:
            if column not in accounts.columns:
                continue
            options = sorted(str(v) for v in accounts[column].dropna().unique())
            store, widget = f"_f_{name}", f"w_{name}"
            if store not in st.session_state:
                st.session_state[store] = st.query_params.get_all(name)
            unknown = [v for v in st.session_state[store] if v not in options]
            if unknown:  # a link's value that matches nothing: said, not silently dropped
                ignored.append((label, unknown))
            st.session_state[store] = [v for v in st.session_state[store] if v in options]
            st.session_state[widget] = list(st.session_state[store])
            st.multiselect(label, options, key=widget, on_change=_copy_widget, args=(widget, store),
                           placeholder="all", format_func=words)
            selections[column] = list(st.session_state[store])
            _to_query_params(name, selections[column])
        chosen = any(v for k, v in selections.items() if k != "account_id") or st.session_state.get("_f_mine")
        if chosen and st.button("Clear filters", icon=":material/filter_alt_off:"):
            for name, _, _ in FILTERS:
                st.session_state[f"_f_{name}"] = []
                if name in st.query_params:
                    del st.query_params[name]
            st.session_state["_f_mine"] = False
            st.query_params.pop(MINE, None)
            st.rerun()
    presentation_toggle()
    for label, values in ignored:
        st.warning(f"The link's {label.lower()} {', '.join(f'“{md(v)}”' for v in values)} matches no account, "
                   "so that filter is not applied. Choose from the filters in the sidebar.",
                   icon=":material/link_off:")
    return selections


MINE = "mine"  # query parameter of the "My accounts" filter (?mine=1)
NO_ACCOUNT = "\x00"  # an account id that cannot exist: an empty selection would mean "all"


def my_accounts_filter() -> list[str] | None:
    """The "My accounts" toggle (the accounts whose account manager or mentor is the user's team
    member id), also in the URL (``?mine=1``); forced on when the user sees only their own
    accounts (``scope_to_own_accounts``). Returns the account IDs to keep, or None for all."""
    actor = current_actor()
    forced = access.reads_only_own(actor)
    if actor.member_id is None and not forced:
        return None
    if "_f_mine" not in st.session_state:
        st.session_state["_f_mine"] = st.query_params.get(MINE) in ("1", "true")
    on = forced or bool(st.session_state["_f_mine"])
    st.session_state["w_mine"] = on
    st.toggle("My accounts", key="w_mine", disabled=forced, on_change=_copy_mine,
              help="Accounts whose account manager or mentor you are"
              + (" (you see only these: setting scope_to_own_accounts)." if forced else "."))
    if on and not forced:
        st.query_params[MINE] = "1"
    elif MINE in st.query_params:
        del st.query_params[MINE]
    if not on:
        return None
    own = _own_ids(actor.member_id)
    linked = st.query_params.get("account")
    if forced and linked and linked not in own:
        st.warning(md(access.refusal(actor, access.Action.READ_ACCOUNT,
                                     access.account_owner(connection(), linked) or access.AccountRef(linked))
                      or f"Account {linked} is not one of yours."), icon=":material/lock:")
    return own or [NO_ACCOUNT]


def _copy_mine() -> None:
    st.session_state["_f_mine"] = bool(st.session_state["w_mine"])


def _copy_widget(widget: str, store: str) -> None:
    st.session_state[store] = list(st.session_state[widget])


def _to_query_params(name: str, values: list[str]) -> None:
    current = st.query_params.get_all(name)
    if values and current != values:
        st.query_params[name] = values
    elif not values and name in st.query_params:
        del st.query_params[name]


# ---------------------------------------------------------------- formatting
# One format per kind of number, on every page: money compact in headline figures ("117.2 m
# EUR") and with thousands separators in tables (the currency in the column header); shares as
# percent with one decimal ("12.3 %"); counts with thousands separators; scores 0-100 whole.

MINUS = "-"  # the same minus sign in figures and tables (a table cell cannot show another)


def money(value: float | None, currency: str) -> str:
    """A headline amount: ``117.2 m EUR``, ``850 k EUR``, ``1.3 bn EUR``; ``–`` when empty."""
    if value is None or pd.isna(value):
        return "–"
    sign = MINUS if value < 0 else ""
    v = abs(value)
    if v >= 1e9:
        return f"{sign}{v / 1e9:,.1f} bn {currency}"
    if v >= 1e6:
        return f"{sign}{v / 1e6:.1f} m {currency}"
    if v >= 1e4:
        return f"{sign}{v / 1e3:.0f} k {currency}"
    return f"{sign}{v:,.0f} {currency}"


def pct(value: float | None, digits: int = 1, signed: bool = False) -> str:
    """A ratio as percent: ``12.3 %`` (``+4.0 %`` signed); ``–`` when empty."""
    if value is None or pd.isna(value):
        return "–"
    text = f"{value * 100:+.{digits}f} %" if signed else f"{value * 100:.{digits}f} %"
    return text.replace("-", MINUS)


def count(value: float | None) -> str:
    """A count with thousands separators; ``–`` when empty (not 0)."""
    if value is None or pd.isna(value):
        return "–"
    return f"{int(value):,}"


def score(value: float | None) -> str:
    """A score 0-100: ``62 / 100``; ``–`` when empty."""
    if value is None or pd.isna(value):
        return "–"
    return f"{value:.0f} / 100"


# codes of the data shown as words (the data and the URL keep the codes)
WORDS = {"pre_sales": "pre-sales", "at_risk": "at risk", "on_track": "on track", "off_track": "off track",
         "economic_buyer": "economic buyer", "decision_maker": "decision maker",
         "technical_buyer": "technical buyer", "no data": "no data"}


def text(value: object, empty: str = "–") -> str:
    """A text of the data as it is, or ``empty`` where there is none: null, NaN (a blank cell
    pandas holds as a float), NaT, pd.NA or an empty text. (``value or "–"`` shows ``nan``.)"""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) or value == "":
        return empty
    return str(value)


def words(value: object) -> str:
    """A code of the data in words: ``at_risk`` → ``at risk``, ``pre_sales`` → ``pre-sales``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    text = str(value)
    return WORDS.get(text, text.replace("_", " ") if text.islower() else text)


def reason_list(value: object) -> list[str]:
    """Reasons or notes of an account as a list (an Arrow list cell, or nothing)."""
    if value is None or isinstance(value, float):
        return []
    try:
        return [str(v) for v in value]
    except TypeError:
        return []


def makes_red(reason: str, status_amber: float) -> bool:
    """Whether a reason is one of the red conditions (an opponent king, an off-track rating,
    health below ``status_amber``): a list of an account's reasons shows those first."""
    return ("is an opponent" in reason or "rated the account off track" in reason
            or bool(re.search(rf"of 100 is below {status_amber:g}$", reason)))


def tier_colour_map(tier_names: list[str]) -> dict[str, str]:
    return {name: TIER_COLOURS[min(i, len(TIER_COLOURS) - 1)] for i, name in enumerate(tier_names)}


# ---------------------------------------------------------------- honest empties


@st.cache_data(show_spinner=False, max_entries=32)
def _column_filled(db: tuple, table: str, column: str, _con: duckdb.DuckDBPyConnection) -> bool:
    from kam_core.sqlutil import quote_ident

    sql = f"select count({quote_ident(column)}) > 0 from {quote_ident(table)}"
    return bool(_con.execute(sql).fetchone()[0])


def needs(ctx: PageContext, *tables: str, column: str | None = None) -> str | None:
    """What would fill a figure that cannot be computed: ``needs revenue.csv`` when a table was
    not loaded, ``needs gross_margin in revenue.csv`` when its column is empty everywhere;
    None when the data is there (then an empty figure is a real "none")."""
    present = loaded(ctx)
    missing = [t for t in tables if t not in present]
    if missing:
        return "needs " + " and ".join(f"{t}.csv" for t in missing)
    if column is not None and not _column_filled(ctx.db_key, tables[0], column, ctx.con):
        return f"needs {column} in {tables[0]}.csv"
    return None


def figure(where, label: str, value: str, *, missing: str | None = None, note: str | None = None,
           delta: str | None = None, delta_color: str = "normal", help: str | None = None) -> None:
    """A headline figure. ``missing`` ("needs revenue.csv") shows ``–`` and the file under it
    instead of a number that would read as 0; ``note`` is a neutral line under the figure."""
    if missing is not None:
        where.metric(label, "–", missing, delta_color="off", delta_arrow="off", help=help)
    elif note is not None:
        where.metric(label, value, note, delta_color="off", delta_arrow="off", help=help)
    else:
        where.metric(label, value, delta, delta_color=delta_color, help=help)


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Col:
    """How a table shows a column: its header, its kind of number (one format per kind) and
    its width (``"small"``, ``"medium"``, ``"large"`` or pixels; the key columns of every table
    fit a 1280 px screen without scrolling sideways)."""

    label: str
    kind: str = "text"  # text, code (shown in words), wrap, money, pct, count, score, bar, ratio, date
    width: str | int | None = None
    help: str | None = None
    pinned: bool = False


def _config(col: Col, currency: str):
    cc = st.column_config
    label = f"{col.label} ({currency})" if col.kind == "money" else col.label
    common = {"width": col.width, "help": col.help, "pinned": col.pinned or None}
    if col.kind == "money":
        return cc.NumberColumn(label, format="%,.0f", **common)
    if col.kind == "pct":
        return cc.NumberColumn(label, format="%.1f %%", **common)
    if col.kind == "count":
        return cc.NumberColumn(label, format="%,d", **common)
    if col.kind == "score":
        return cc.NumberColumn(label, format="%.0f", **common)
    if col.kind == "ratio":
        return cc.NumberColumn(label, format="%.2f", **common)
    if col.kind == "bar":
        return cc.ProgressColumn(label, min_value=0, max_value=100, format="%.0f", **common)
    if col.kind == "date":
        return cc.DateColumn(label, **common)
    return cc.TextColumn(label, **common)


def table_frame(frame: pd.DataFrame, columns: dict[str, Col]) -> pd.DataFrame:
    """The shown frame: the chosen columns in order, shares in percent points, codes in words,
    long notes kept whole (the ``wrap`` columns get the row height to show them)."""
    out = pd.DataFrame(index=frame.index)
    for name, col in columns.items():
        values = frame[name] if name in frame.columns else pd.Series(pd.NA, index=frame.index)
        if col.kind == "pct":
            values = pd.to_numeric(values, errors="coerce").astype("float64") * 100
        elif col.kind == "code":
            values = values.map(words, na_action="ignore")
        elif col.kind == "count":
            values = pd.to_numeric(values, errors="coerce").astype("Int64")
        out[name] = values
    return out.reset_index(drop=True)


MISSING = "–"  # what a table cell without a value shows (Streamlit's own placeholder reads "None")


def dataframe(data: Any, **kwargs: Any) -> Any:
    """``st.dataframe`` in the house style: a cell without a value shows ``–``, never ``None``."""
    return st.dataframe(data, placeholder=MISSING, **kwargs)


def table(frame: pd.DataFrame, columns: dict[str, Col], currency: str, *, key: str | None = None,
          height: int | str = "auto", open_account: bool = False, open_review: bool = False):
    """One table in the house style. ``open_account``: clicking a cell of a row opens that
    account on the Account page, in this tab and with the filters kept (``open_review``: with
    its review form open)."""
    shown = table_frame(frame, columns)
    config = {name: _config(col, currency) for name, col in columns.items()}
    wraps = any(col.kind == "wrap" for col in columns.values())
    options = {"row_height": 60} if wraps else {}
    if not open_account:
        return dataframe(shown, hide_index=True, width="stretch", height=height, column_config=config,
                            key=key, **options)
    event = dataframe(shown, hide_index=True, width="stretch", height=height, column_config=config, key=key,
                         on_select="rerun", selection_mode="single-cell", **options)
    picked = _picked_row(event)
    if picked is not None and picked < len(frame):
        go_to_account(str(frame["account_id"].iloc[picked]), review=open_review)
    return event


def result_config(frame: pd.DataFrame) -> dict:
    """Column config for a table of any shape (Explore, the SQL box): counts and amounts with
    thousands separators, and its naming column pinned so it stays in view when the table is
    wider than the screen."""
    config: dict = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            continue
        if pd.api.types.is_integer_dtype(dtype):
            config[name] = st.column_config.NumberColumn(format="%,d")
        elif pd.api.types.is_float_dtype(dtype):
            config[name] = st.column_config.NumberColumn(format="%,.2f")
    key = next((c for c in ("name", "account_id", "table", "source_file") if c in frame.columns), None)
    if key is not None and len(frame.columns) > 4:
        config[key] = st.column_config.Column(pinned=True)
    return config


def _picked_row(event) -> int | None:
    try:
        selection = event.selection
    except AttributeError:
        return None
    rows = list(selection.get("rows", []) if isinstance(selection, dict) else getattr(selection, "rows", []))
    cells = list(selection.get("cells", []) if isinstance(selection, dict) else getattr(selection, "cells", []))
    if rows:
        return int(rows[0])
    if cells:
        return int(cells[0][0])
    return None


# ---------------------------------------------------------------- links between pages

ACCOUNT_PAGE = "pages/2_account.py"


def filter_params() -> dict[str, list[str] | str]:
    """The current filters (and presentation mode) as query parameters, for a link that keeps them."""
    params: dict[str, list[str] | str] = {}
    for name, _, _ in FILTERS:
        values = st.session_state.get(f"_f_{name}") or []
        if values:
            params[name] = list(values)
    if st.session_state.get("_f_mine"):
        params[MINE] = "1"
    if presenting():
        params[PRESENT] = "1"
    return params


def account_params(account_id: str, review: bool = False) -> dict[str, list[str] | str]:
    return {**filter_params(), "account": str(account_id), **({"review": "1"} if review else {})}


def go_to_account(account_id: str, review: bool = False) -> None:
    """Open the Account page on ``account_id`` in this tab, keeping the filters (``review``: with
    the review form open)."""
    st.session_state["_account"] = str(account_id)
    st.switch_page(ACCOUNT_PAGE, query_params=account_params(account_id, review))


def account_link(label: str, account_id: str) -> None:
    """A link to an account that opens in this tab and keeps the filters (``label`` is markdown:
    escape data in it with ``md``)."""
    st.page_link(ACCOUNT_PAGE, label=label, query_params=account_params(account_id))


# ---------------------------------------------------------------- charts


def chart(fig, key: str | None = None, height: int = 380, **kwargs) -> object:
    """Render a plotly figure in the app's style (texts from the data escaped)."""
    _escape_chart(fig)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10),  # (the template: the default)
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
                      font=dict(family="Source Sans Pro, sans-serif", size=16 if presenting() else 13))
    return st.plotly_chart(fig, width="stretch", key=key, **kwargs)


def filtered_view(accounts: pd.DataFrame, filters: dict[str, list[str]]) -> tuple[pd.DataFrame, list[str] | None]:
    """The filtered account table and the ID list (None = no filter)."""
    ids = filtered_ids(accounts, filters)
    view = accounts if ids is None else accounts[accounts["account_id"].isin(ids)]
    if ids is not None:
        st.caption(f"Filtered: {len(view):,} of {len(accounts):,} accounts.")
    return view, ids
