"""Every tunable of the spec, declared once: name, default, help and what is allowed.

The declaration drives validation, ``kam.toml`` parsing, the docs and the app's Settings
page. ``kam.toml`` holds top-level keys; dictionary-valued settings are TOML tables::

    tier_scheme = "league"
    half_life_days = 120

    [health_weights]
    coverage = 0.4

>>> s = Settings.from_dict({"half_life_days": 90})
>>> s.half_life_days
90
>>> Settings.from_dict({"half_life_days": -1})
Traceback (most recent call last):
...
kam_core.errors.SettingsError: half_life_days = -1 is not allowed: expected a number greater than 0
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kam_core.access import values as _access
from kam_core.errors import SettingsError
from kam_core.ingest.schema import ATTITUDES, PIECES

TIER_PRESETS: dict[str, list[tuple[str, float]]] = {
    "medals": [("Gold", 70), ("Silver", 50), ("Bronze", 30), ("Standard", 0)],
    "league": [("Premier", 70), ("First", 50), ("Second", 30), ("Amateur", 0)],
    "airline": [("First", 70), ("Club", 50), ("Economy", 30), ("Standby", 0)],
}

HEALTH_COMPONENTS = ("coverage", "growth", "margin", "plan", "activity")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    check: Callable[[Any], Any]  # returns the normalised value or raises ValueError(expected)
    group: str = "general"


# ---- validators: each returns the cleaned value or raises ValueError("expected ...") ----


def _number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
            integer: bool = False) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok_type:
            raise ValueError(f"expected {'a whole number' if integer else 'a number'}{_range(lo, hi, lo_open)}")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise ValueError(f"expected a number{_range(lo, hi, lo_open)}")
        if hi is not None and v > hi:
            raise ValueError(f"expected a number{_range(lo, hi, lo_open)}")
        return v

    return check


def _range(lo: float | None, hi: float | None, lo_open: bool) -> str:
    if lo is not None and hi is not None:
        return f" from {lo} {'(exclusive) ' if lo_open else ''}to {hi}"
    if lo is not None:
        return f" greater than {lo}" if lo_open else f" of at least {lo}"
    if hi is not None:
        return f" of at most {hi}"
    return ""


def _choice(*allowed: str) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not isinstance(v, str) or v.strip().lower() not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return v.strip().lower()

    return check


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("expected a non-empty text")
    return v.strip()


def _optional_date(v: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise ValueError("expected an ISO date (YYYY-MM-DD) or empty for automatic")


def _number_map(keys: tuple[str, ...], lo: float | None = None, hi: float | None = None
                ) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError(f"expected a table with keys {', '.join(keys)}")
        unknown = set(v) - set(keys)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(keys)}")
        out = {}
        for k, x in v.items():
            if isinstance(x, bool) or not isinstance(x, (int, float)) or (lo is not None and x < lo) or (
                hi is not None and x > hi
            ):
                raise ValueError(f"{k} = {x!r}: expected a number{_range(lo, hi, False)}")
            out[k] = x
        return out

    return check


def _tiers(v: Any) -> list[tuple[str, float]] | None:
    """Custom tiers: a list of [name, threshold] from the top; the last one should be 0."""
    if v is None or v == []:
        return None
    if not isinstance(v, list) or not all(
        isinstance(t, (list, tuple)) and len(t) == 2 and isinstance(t[0], str) and t[0].strip()
        and isinstance(t[1], (int, float)) and not isinstance(t[1], bool) and 0 <= t[1] <= 100
        for t in v
    ):
        raise ValueError('expected a list of ["name", threshold] pairs with thresholds 0-100')
    thresholds = [t[1] for t in v]
    if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
        raise ValueError("expected thresholds strictly decreasing from the top tier down")
    names = [t[0].strip() for t in v]
    if len(set(names)) != len(names):
        raise ValueError("expected distinct tier names")
    return [(t[0].strip(), float(t[1])) for t in v]


def _weights(v: Any) -> dict[str, float]:
    if not isinstance(v, dict):
        raise ValueError("expected a table criterion_id = weight")
    for k, x in v.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0:
            raise ValueError(f"{k} = {x!r}: expected a weight of at least 0")
    return {str(k): float(x) for k, x in v.items()}


def _store_path(v: Any) -> str:
    """The workbench store's file: empty (beside the CRM database) or a path."""
    if not isinstance(v, str):
        raise ValueError("expected a file path, or empty for beside the CRM database")
    return v.strip()
def _browser_path(v: Any) -> str:
    """The browser for static charts: empty (search the PATH) or a path or command name."""
    if not isinstance(v, str):
        raise ValueError("expected the path of a Chrome or Chromium program, or empty to search the PATH")
    return v.strip()


def _has_non_finite(v: Any) -> bool:
    """True when ``v`` is, or contains (tables, lists), a float that is nan or infinite."""
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, dict):
        return any(_has_non_finite(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(_has_non_finite(x) for x in v)
    return False


SETTINGS: tuple[Setting, ...] = (
    Setting("currency", "EUR", "Currency every amount is shown in (ISO code).", _text, "general"),
    Setting("as_of", None, "The date the numbers are computed for; empty = the latest date in the "
            "data, capped at today.", _optional_date, "general"),
    Setting("sql_time_limit_s", 10.0, "The SQL box stops a query after this many seconds.",
            _number(0, 600, lo_open=True), "general"),
    Setting("sql_max_rows", 10000, "The SQL box returns at most this many rows.",
            _number(1, 1_000_000, integer=True), "general"),
    # hardening: the SQL box's worker processes and the backups kept by a load from the app
    Setting("sql_memory_limit_mb", 1024, "Memory one SQL box query may take (MB); a query that needs "
            "more is stopped with a message. The limit is a hard one: the query runs in a worker process "
            "whose address space is capped.", _number(64, 1_048_576, integer=True), "general"),
    Setting("sql_threads", 2, "Threads one SQL box query may use.", _number(1, 256, integer=True), "general"),
    Setting("sql_parallel_queries", 4, "SQL box queries that run at the same time, across all users; "
            "more wait for a free worker (at most their time limit). Bounds the SQL box's memory to "
            "this many × sql_memory_limit_mb.", _number(1, 64, integer=True), "general"),
    Setting("backups_kept", 3, "Previous databases kept when data is replaced from the Data page "
            "(restorable there); 0 keeps none.", _number(0, 100, integer=True), "loading"),
    Setting("date_order", "dmy", "How to read ambiguous dates such as 03/04/2025 in source files: "
            "dmy (3 April) or mdy (4 March). ISO and DD.MM.YYYY dates are never ambiguous.",
            _choice("dmy", "mdy"), "loading"),
    # portfolio
    Setting("tier_scheme", "medals", "Tier preset: medals (Gold/Silver/Bronze/Standard), league "
            "(Premier/First/Second/Amateur) or airline (First/Club/Economy/Standby).",
            _choice(*TIER_PRESETS), "portfolio"),
    Setting("tiers", None, 'Custom tiers overriding the preset: list of ["name", threshold] from '
            "the top tier down; an account gets the first tier whose threshold its "
            "attractiveness reaches.", _tiers, "portfolio"),
    Setting("criteria_weights", {}, "Weights overriding the criteria table, by criterion_id.",
            _weights, "portfolio"),
    Setting("quadrant_attractiveness", 50.0, "Attractiveness (0-100) from which an account is in "
            "the upper half of the portfolio matrix.", _number(0, 100), "portfolio"),
    Setting("quadrant_strength", 50.0, "Strength (0-100) from which an account is in the right "
            "half of the portfolio matrix.", _number(0, 100), "portfolio"),
    Setting("stability_runs", 200, "Weight perturbations used for tier_stability.",
            _number(1, 10000, integer=True), "portfolio"),
    Setting("stability_spread", 0.2, "Each weight is multiplied by uniform(1 - spread, 1 + spread).",
            _number(0, 1), "portfolio"),
    Setting("stability_seed", 42, "Random seed of the perturbations (fixed: same data, same result).",
            _number(0, integer=True), "portfolio"),
    Setting("borderline_stability", 0.8, "Accounts whose tier_stability is below this are borderline.",
            _number(0, 1), "portfolio"),
    # relationships
    Setting("half_life_days", 180, "Days after which a relationship counts half (decay since last "
            "contact).", _number(0, lo_open=True), "relationships"),
    Setting("covered_threshold", 0.5, "Effective strength from which a contact counts as covered.",
            _number(0, 1), "relationships"),
    Setting("thread_strength", 3, "Relationship strength (0-4) from which a team member is a thread.",
            _number(0, 4, integer=True), "relationships"),
    Setting("piece_values", {"king": 10, "queen": 9, "rook": 5, "bishop": 3, "knight": 3, "pawn": 1},
            "Influence value of each chess piece.", _number_map(PIECES, 0), "relationships"),
    Setting("attitude_values", {"champion": 2, "supporter": 1, "neutral": 0, "skeptic": -1,
                                "opponent": -2}, "Attitude value used in support_balance.",
            _number_map(ATTITUDES), "relationships"),
    Setting("high_influence_value", 5, "Piece value from which a contact is high-influence "
            "(opponents, gap list).", _number(0), "relationships"),
    # growth and health
    Setting("target_margin", 0.30, "Gross margin % that earns a full margin score.",
            _number(0, 1, lo_open=True), "health"),
    Setting("growth_slope", 250, "Growth score = 50 + slope × revenue_growth (clamped 0-100).",
            _number(0, lo_open=True), "health"),
    Setting("review_cadence_days", 90, "A plan review within this many days earns a full plan score.",
            _number(0, integer=True), "health"),
    Setting("review_zero_days", 180, "Days since the last review at which the plan score reaches 0.",
            _number(1, integer=True), "health"),
    Setting("activity_half_life_days", 30, "Days after which the activity score halves.",
            _number(0, lo_open=True), "health"),
    Setting("health_weights", {"coverage": 0.30, "growth": 0.25, "margin": 0.15, "plan": 0.15,
                               "activity": 0.15}, "Weights of the health components.",
            _number_map(HEALTH_COMPONENTS, 0), "health"),
    Setting("status_green", 70.0, "Health from which an account is green.", _number(0, 100), "health"),
    Setting("status_amber", 40.0, "Health from which an account is amber (below: red).",
            _number(0, 100), "health"),
    Setting("reason_below", 40.0, "A health component below this is listed as a reason.",
            _number(0, 100), "health"),
    Setting("key_person_reason", 0.5, "A key-person dependency from this share (0-1) is listed as a "
            "reason (\"coverage depends 80 % on one person\").", _number(0, 1), "health"),
    # access: sign-in and roles (docs/sign-in.md); kept when the Settings page saves or resets
    Setting("roles", {}, "Who has which role once sign-in is on: an e-mail, an @domain or a group "
            "(as the identity provider names it) = a role (admin, management, mentor, account_manager, "
            "viewer), or = { role = ..., member_id = ... } where member_id is the team member whose "
            "accounts are theirs. A user gets the roles of every entry that matches.",
            _access.role_mapping, "access"),
    Setting("default_role", "none", "Role of a signed-in user whom no entry of roles matches: none "
            "(refused, the default) or viewer.", _access.default_role, "access"),
    Setting("scope_to_own_accounts", False, "Mentors and account managers see only their own accounts "
            "(those whose mentor_id or account_manager_id is their team member id).",
            _access.flag, "access"),
    Setting("sql_roles", ["admin", "management"], "Roles that may use the SQL box (it reads every "
            "table, whatever scope_to_own_accounts says).", _access.role_list, "access"),
    Setting("group_claims", ["groups", "roles"], "ID-token claims whose values are matched as groups "
            "against roles (Entra ID: groups and app roles; Keycloak: groups).",
            _access.claim_names, "access"),
    # workbench
    Setting("workbench_path", "", "File of the workbench store (the team's edits, kept across loads); "
            "empty = beside the CRM database (kam.duckdb -> kam.workbench.sqlite); a relative path "
            "is relative to the database's folder.", _store_path, "general"),
    # loading: limits of a load (zips, a mapping's SQL)
    Setting("zip_max_total_mb", 4000.0, "A zip is refused when its files would take more than this "
            "many MB unpacked.", _number(0, lo_open=True), "loading"),
    Setting("zip_max_ratio", 100.0, "A zip is refused when it expands more than this many times (CSV "
            "exports expand 4-15 times; a zip bomb a thousand times).", _number(1), "loading"),
    Setting("mapping_sql_time_limit_s", 60.0, "A mapping's SQL is stopped after this many seconds.",
            _number(0, 3600, lo_open=True), "loading"),
    Setting("mapping_sql_memory_mb", 1024.0, "A mapping's SQL is stopped when it needs more than this "
            "many MB of memory.", _number(64, 65536), "loading"),
    # health v2 and the metrics pipeline
    Setting("overdue_action_penalty", 25.0, "Points the plan component loses per overdue plan action "
            "(open, due before the as-of date); the component stays at least 0.", _number(0, 100), "health"),
    Setting("review_due_soon_days", 14, "Days before a review falls due from which the account's notes "
            "say it is due soon.", _number(0, integer=True), "health"),
    # the mentor's review and the portfolio's history (issue 14, docs/reviews.md)
    Setting("history_snapshots_kept", 60, "Snapshots of every account's figures kept for the portfolio's "
            "history, one per load (the oldest beyond this are deleted; the snapshots taken at reviews "
            "are always kept); 0 keeps no history.", _number(0, 100_000, integer=True), "health"),
    Setting("review_strength_change", 0.1, "A relationship counts as strengthened or weakened since a "
            "review when its effective strength (0-1) changed by at least this.",
            _number(0, 1, lo_open=True), "relationships"),
    Setting("chart_browser", "", "Chrome or Chromium that draws the charts of the PDF documents (review, "
            "board pack); empty = chromium or chrome found on the PATH. Without one the PDF is built "
            "without its charts and says why.", _browser_path, "general"),
    Setting("chart_time_limit_s", 60.0, "Drawing the charts of one PDF document is given up after this "
            "many seconds (the PDF is then built without them and says why).",
            _number(0, 600, lo_open=True), "general"),
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


class Settings:
    """The settings in force: defaults overridden by ``kam.toml`` or a dict.

    Attribute access by name (``settings.half_life_days``); immutable once built; use
    ``replace(**changes)`` for a changed copy (the app's weight editor does).
    """

    __slots__ = ("_values", "_given")

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        merged = {s.name: _copy(s.default) for s in SETTINGS}
        for key, value in (values or {}).items():
            if key not in SETTINGS_BY_NAME:
                raise SettingsError(
                    f"unknown setting {key!r}; known settings: {', '.join(SETTINGS_BY_NAME)}"
                )
            setting = SETTINGS_BY_NAME[key]
            if _has_non_finite(value):  # TOML reads nan and inf; sql_time_limit_s = nan would lift the limit
                raise SettingsError(f"{key} = {value!r} is not allowed: expected a finite number, not nan or inf")
            try:
                cleaned = setting.check(value)
            except ValueError as exc:
                raise SettingsError(f"{key} = {value!r} is not allowed: {exc}") from None
            if isinstance(setting.default, dict) and isinstance(cleaned, dict) and key != "criteria_weights":
                cleaned = {**setting.default, **cleaned}
            merged[key] = cleaned
        if merged["status_amber"] > merged["status_green"]:
            raise SettingsError(
                f"status_amber = {merged['status_amber']} is not allowed: expected a number of at "
                f"most status_green ({merged['status_green']})"
            )
        if merged["review_zero_days"] <= merged["review_cadence_days"]:
            raise SettingsError(
                f"review_zero_days = {merged['review_zero_days']} is not allowed: expected more "
                f"than review_cadence_days ({merged['review_cadence_days']})"
            )
        if sum(merged["health_weights"].values()) <= 0:
            raise SettingsError("health_weights is not allowed: expected at least one weight above 0")
        object.__setattr__(self, "_values", merged)
        # the keys given explicitly (kam.toml or a dict), also where they equal the default
        object.__setattr__(self, "_given", frozenset(values or {}))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Settings:
        return cls(values)

    @classmethod
    def from_file(cls, path: str | Path | None) -> Settings:
        """Read ``kam.toml``; a missing path argument means defaults, a missing file is an error."""
        if path is None:
            return cls()
        p = Path(path)
        if not p.is_file():
            raise SettingsError(f"settings file {p} does not exist")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{p.name} is not valid TOML: {exc}") from None
        try:
            return cls(data)
        except SettingsError as exc:
            raise SettingsError(f"{p.name}: {exc}") from None

    def __getattr__(self, name: str) -> Any:
        try:
            return _copy(self._values[name])
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Settings are immutable; use replace()")

    def __reduce__(self) -> tuple:
        # pickling (Streamlit's cache) goes through the constructor, which re-validates
        return (Settings, (self._explicit(),))

    def is_set(self, name: str) -> bool:
        """True when ``name`` was given (in kam.toml or the dict), even as its default value."""
        return name in self._given or name in self.changed()

    def _explicit(self) -> dict[str, Any]:
        return {**{k: self._values[k] for k in self._given}, **self.changed()}

    def as_dict(self) -> dict[str, Any]:
        return {k: _copy(v) for k, v in self._values.items()}

    def changed(self) -> dict[str, Any]:
        """Only the values that differ from the defaults (what kam.toml needs to hold)."""
        return {s.name: self._values[s.name] for s in SETTINGS if self._values[s.name] != s.default}

    def replace(self, **changes: Any) -> Settings:
        return Settings({**self._explicit(), **changes})

    @property
    def tier_list(self) -> list[tuple[str, float]]:
        """Tiers in force from the top: custom ``tiers`` or the preset."""
        return list(self._values["tiers"] or TIER_PRESETS[self._values["tier_scheme"]])

    def cache_key(self) -> str:
        """A stable text for cache keys."""
        return repr(sorted((k, repr(v)) for k, v in self._values.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._values == other._values

    def __hash__(self) -> int:
        return hash(self.cache_key())

    def __repr__(self) -> str:
        return f"Settings({self.changed()!r})"


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, list):
        return list(v)
    return v


def to_toml(settings: Settings) -> str:
    """The changed settings as kam.toml text (defaults are left out)."""
    lines: list[str] = ["# KAM dashboard settings: only values that differ from the defaults."]
    tables: list[str] = []
    for key, value in settings.changed().items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]")
            tables.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines + tables) + "\n"


def _toml_key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dt.date):
        return f'"{v.isoformat()}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table (an entry of roles)
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- saving from the app: only an admin, and the sign-in roles stay as the file has them ----

ACCESS_SETTINGS: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.group == "access")


def save_settings(path: str | Path, values: dict[str, Any], actor: Any) -> Settings:
    """Validate ``values`` and write them to ``path`` (kam.toml) on behalf of ``actor``.

    Raises ``AccessDenied`` unless the actor may change the settings, ``SettingsError`` for a
    value that is not allowed (the file is then unchanged). The access settings (roles …) in the
    file are kept unless ``values`` names them, so saving the tunables never locks anyone out.
    The file is replaced in one step: a crash leaves the old or the new file, never half of one.
    """
    from kam_core.access import Action, require

    require(actor, Action.CHANGE_SETTINGS)
    new = Settings({**_access_values_in(Path(path)), **values})
    _write_atomically(Path(path), to_toml(new))
    return new


def reset_settings(path: str | Path, actor: Any) -> Settings:
    """Reset every tunable to its default on behalf of ``actor``, keeping the access settings."""
    from kam_core.access import Action, require

    require(actor, Action.CHANGE_SETTINGS)
    p = Path(path)
    kept = Settings(_access_values_in(p))
    if kept.changed():
        _write_atomically(p, to_toml(kept))
    elif p.is_file():
        p.unlink()
    return kept


def _access_values_in(path: Path) -> dict[str, Any]:
    """The access settings as written in the file ({} without a readable file)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    return {k: data[k] for k in ACCESS_SETTINGS if k in data}


def _write_atomically(path: Path, text: str) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
