"""Settings: declared once, validated with messages naming the key and the allowed range."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from kam_core.errors import SettingsError
from kam_core.settings import SETTINGS, Settings, to_toml


def test_defaults_match_the_spec() -> None:
    s = Settings()
    assert s.currency == "EUR"
    assert s.as_of is None
    assert s.half_life_days == 180
    assert s.piece_values == {"king": 10, "queen": 9, "rook": 5, "bishop": 3, "knight": 3, "pawn": 1}
    assert s.attitude_values["opponent"] == -2
    assert s.tier_list == [("Gold", 70), ("Silver", 50), ("Bronze", 30), ("Standard", 0)]
    assert (s.quadrant_attractiveness, s.quadrant_strength) == (50, 50)
    assert s.stability_runs == 200 and s.borderline_stability == 0.8
    assert s.target_margin == 0.30 and s.review_cadence_days == 90
    assert s.health_weights == {"coverage": 0.30, "growth": 0.25, "margin": 0.15, "plan": 0.15, "activity": 0.15}
    assert (s.status_green, s.status_amber) == (70, 40)


def test_every_setting_has_help_and_a_valid_default() -> None:
    for setting in SETTINGS:
        assert setting.help.strip(), setting.name
        Settings({setting.name: setting.default})  # the default passes its own check


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"half_life_days": 0}, "half_life_days = 0 is not allowed: expected a number greater than 0"),
        ({"half_life_days": "long"}, "half_life_days = 'long' is not allowed: expected a number"),
        ({"tier_scheme": "olympic"}, "tier_scheme = 'olympic' is not allowed: expected one of medals, league, airline"),
        ({"target_margin": 1.5}, "target_margin = 1.5 is not allowed: expected a number from 0 (exclusive) to 1"),
        ({"stability_runs": 2.5}, "stability_runs = 2.5 is not allowed: expected a whole number from 1 to 10000"),
        ({"piece_values": {"emperor": 12}}, "piece_values = {'emperor': 12} is not allowed: unknown key(s) emperor"),
        ({"health_weights": {"coverage": -1}}, "coverage = -1: expected a number of at least 0"),
        ({"tiers": [["A", 30], ["B", 50]]}, "expected thresholds strictly decreasing"),
        ({"as_of": "yesterday"}, "as_of = 'yesterday' is not allowed: expected an ISO date"),
        ({"status_amber": 80}, "status_amber = 80 is not allowed: expected a number of at most status_green (70"),
        ({"colour": "blue"}, "unknown setting 'colour'; known settings: currency"),
        ({"criteria_weights": {"fit": -2}}, "criteria_weights = {'fit': -2} is not allowed: fit = -2: expected a weight of at least 0"),
    ],
)
def test_invalid_values(values: dict, message: str) -> None:
    with pytest.raises(SettingsError) as exc:
        Settings(values)
    assert message in str(exc.value)


def test_kam_toml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "kam.toml"
    s = Settings({"tier_scheme": "league", "half_life_days": 120, "as_of": "2026-06-30",
                  "health_weights": {"coverage": 0.5}, "tiers": [["Top", 60], ["Rest", 0]],
                  "criteria_weights": {"fit": 2}})
    path.write_text(to_toml(s))
    back = Settings.from_file(path)
    assert back == s
    assert back.as_of == dt.date(2026, 6, 30)
    assert back.health_weights["growth"] == 0.25  # partial tables merge with the defaults
    assert back.tier_list == [("Top", 60.0), ("Rest", 0.0)]
    assert "half_life_days = 120" in path.read_text()
    assert tomllib.loads(to_toml(Settings())) == {}


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "kam.toml"
    bad.write_text("half_life_days = -3\n")
    with pytest.raises(SettingsError, match=r"kam.toml: half_life_days = -3 is not allowed"):
        Settings.from_file(bad)
    bad.write_text("half_life_days = \n")
    with pytest.raises(SettingsError, match="kam.toml is not valid TOML"):
        Settings.from_file(bad)
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.from_file(tmp_path / "missing.toml")


def test_immutable_and_replace() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.half_life_days = 3  # type: ignore[misc]
    pv = s.piece_values
    pv["king"] = 0
    assert s.piece_values["king"] == 10  # callers get copies
    t = s.replace(half_life_days=30)
    assert t.half_life_days == 30 and s.half_life_days == 180
    assert t.changed() == {"half_life_days": 30}
