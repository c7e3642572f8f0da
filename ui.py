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


def workbench_store() -> Path:
    """The workbench store of the app's database (setting ``workbench_path``)."""
    from kam_core.workbench.store import store_path_for

    return store_path_for(database_path(), saved_settings())


def db_key() -> tuple:
    """Identifies the data's current version: the database file (changes when a load swaps it)
    and the workbench store's last save (changes with every edit or review)."""
    from kam_core.workbench.store import store_version

    db = database_path()
    stat = db.stat()
    return (str(db), stat.st_mtime_ns, stat.st_ino, *store_version(workbench_store()))


def dataset_overlay() -> Overlay | None:
    """What ``open_dataset`` lays over the export for the app and the SQL box: the team's edits
    and reviews, from the workbench store. Picklable (the SQL box runs in a worker process): a
    ``functools.partial`` of a module-level function."""
    import functools

    from kam_core.workbench.overlay import apply_store_overlay

    return functools.partial(apply_store_overlay, str(workbench_store()))


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
    actor: access.Actor | None = None

    @property
    def settings_key(self) -> str:
        return self.settings.cache_key()


def setup_page(title: str, icon: str = "♚", caption: str | None = None) -> PageContext:
    """Every page starts here: page config, sign-in, database, navigation, settings, as-of date."""
    st.set_page_config(page_title=f"{title} · KAM dashboard", page_icon=icon, layout="wide")
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
    st.title(title)
    if caption:
        st.caption(caption)
    return PageContext(con=con, settings=settings, db_key=key, as_of=as_of, actor=current_actor())


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
                    st.error(f"Sign-in failed: {exc}", icon=":material/error:")
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
            st.session_state[store] = [v for v in st.session_state[store] if v in options]
            st.session_state[widget] = list(st.session_state[store])
            st.multiselect(label, options, key=widget, on_change=_copy_widget, args=(widget, store),
                           placeholder="all")
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
        st.warning(access.refusal(actor, access.Action.READ_ACCOUNT,
                                  access.account_owner(connection(), linked) or access.AccountRef(linked))
                   or f"Account {linked} is not one of yours.", icon=":material/lock:")
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
