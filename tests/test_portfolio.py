"""Portfolio scores (spec §3.1): criterion scores, axes, tiers, quadrants, contributions, stability."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from kam_core.ingest.schema import DERIVED_METRICS, create_schema
from kam_core.metrics.portfolio import (
    PortfolioError,
    account_metrics,
    contributions,
    portfolio_overview,
    score_portfolio,
    tier_changes,
    tier_stability,
)
from kam_core.settings import Settings

AS_OF = dt.date(2025, 6, 30)


def metrics_frame(account_ids: list[str], **values: list[float | None]) -> pd.DataFrame:
    """A metrics frame as account_metrics returns it, every metric null unless given."""
    n = len(account_ids)
    data: dict[str, object] = {"account_id": account_ids}
    for metric in DERIVED_METRICS:
        data[metric] = values.get(metric, [None] * n)
    return pd.DataFrame(data).astype(dict.fromkeys(DERIVED_METRICS, "float64"))


def make_con(
    accounts: list[tuple[str, float | None]],
    criteria: list[tuple[str, str, float, str]] | None,
    scores: list[tuple[str, str, float]] = (),
) -> duckdb.DuckDBPyConnection:
    """accounts (id, annual_revenue); criteria (id, axis, weight, source) or None = not loaded."""
    con = duckdb.connect()
    tables = ["accounts"] + (["criteria", "criterion_scores"] if criteria is not None else [])
    create_schema(con, tables=tables)
    for account_id, revenue in accounts:
        con.execute(
            "insert into accounts (account_id, name, annual_revenue) values ($id, $name, $rev)",
            {"id": account_id, "name": f"Account {account_id}", "rev": revenue},
        )
    for criterion_id, axis, weight, source in criteria or []:
        con.execute(
            "insert into criteria values ($id, $name, $axis, $w, $src)",
            {"id": criterion_id, "name": criterion_id.title(), "axis": axis, "w": weight, "src": source},
        )
    for account_id, criterion_id, score in scores:
        con.execute(
            "insert into criterion_scores values ($a, $c, $s)",
            {"a": account_id, "c": criterion_id, "s": score},
        )
    return con


# ---- the main example: four accounts, two criteria per axis ----------------------------

CRITERIA = [
    ("size", "attractiveness", 2.0, "annual_revenue"),
    ("fit", "attractiveness", 1.0, "manual"),
    ("rel", "strength", 1.0, "manual"),
    ("cov", "strength", 1.0, "coverage"),
]
SCORES = [
    ("A", "fit", 6.0),
    ("B", "fit", 9.0),
    ("D", "fit", 3.0),
    ("A", "rel", 4.0),
    ("B", "rel", 10.0),
    ("C", "rel", 5.0),
    ("A", "size", 10.0),  # a manual score for a derived criterion: ignored
]


@pytest.fixture
def example() -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    con = make_con([("A", 100.0), ("B", 200.0), ("C", 200.0), ("D", None)], CRITERIA, SCORES)
    metrics = metrics_frame(
        ["A", "B", "C", "D"],
        annual_revenue=[100.0, 200.0, 200.0, None],
        coverage=[50.0, None, 20.0, 80.0],
    )
    return con, metrics


def test_example_scores(example) -> None:
    con, metrics = example
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics)
    # size (annual_revenue; D has none): A 100 → rank 1 → 0; B, C 200 tie → rank 2 →
    #   (2-1)/(3-1) = 0.5 → 5; D → 0.  cov (coverage; B has none): C 20 → 0, A 50 → 5,
    #   D 80 → 10, B → 0.  A's manual 10 for size is ignored.
    assert got["score_size"].tolist() == [0.0, 5.0, 5.0, 0.0]
    assert got["score_cov"].tolist() == [5.0, 0.0, 0.0, 10.0]
    assert got["score_fit"].tolist() == [6.0, 9.0, 0.0, 3.0]
    assert got["score_rel"].tolist() == [4.0, 10.0, 5.0, 0.0]
    # attractiveness = 10 × (2·size + 1·fit) / 3: A 10·6/3 = 20; B 10·(10+9)/3 = 63.333333;
    #   C 10·10/3 = 33.333333; D 10·3/3 = 10
    assert got["attractiveness"].tolist() == pytest.approx([20.0, 63.333333, 33.333333, 10.0])
    # strength = 10 × (rel + cov) / 2: A 45; B 50; C 25; D 50
    assert got["strength"].tolist() == pytest.approx([45.0, 50.0, 25.0, 50.0])
    assert got["missing_criteria"].tolist() == [0, 0, 1, 1]  # C lacks fit, D lacks rel
    assert got["tier"].tolist() == ["Standard", "Silver", "Bronze", "Standard"]
    assert got["tier_rank"].tolist() == [3, 1, 2, 3]
    # strength exactly 50 counts as the upper half
    assert got["quadrant"].tolist() == ["streamline", "strategic", "streamline", "status"]
    assert got["account_id"].tolist() == ["A", "B", "C", "D"]
    assert got["name"].tolist() == ["Account A", "Account B", "Account C", "Account D"]


def test_stability_properties(example) -> None:
    con, metrics = example
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics)
    stability = got["tier_stability"]
    assert stability.between(0, 1).all()
    # A (20) and D (10) score only from their manual fit: any weights keep them Standard
    # only if the other criterion cannot lift them to 30 — A: size 0, fit 6 → at most
    # 10·6·w_fit/(w_size+w_fit) < 30. So A and D always stay.
    assert stability.iloc[0] == 1.0 and stability.iloc[3] == 1.0
    assert got["is_borderline"].tolist() == (stability.round(6) < 0.8).tolist()


def test_contributions_sum_to_scores(example) -> None:
    con, metrics = example
    scores = score_portfolio(con, Settings(), AS_OF, metrics=metrics)
    long = contributions(con, Settings(), AS_OF, metrics=metrics)
    assert len(long) == 16
    a = long[long["account_id"] == "A"].set_index("criterion_id")
    # A: size 2·0/3·10 = 0; fit 1·6/3·10 = 20; rel 1·4/2·10 = 20; cov 1·5/2·10 = 25
    assert a["contribution"].to_dict() == pytest.approx({"size": 0, "fit": 20, "rel": 20, "cov": 25})
    assert a.loc["fit", "is_missing"] == False  # noqa: E712 (numpy bool)
    c = long[long["account_id"] == "C"].set_index("criterion_id")
    assert bool(c.loc["fit", "is_missing"]) and not bool(c.loc["size", "is_missing"])
    sums = long.groupby(["account_id", "axis"])["contribution"].sum().unstack()
    assert sums["attractiveness"].tolist() == pytest.approx(scores["attractiveness"].tolist())
    assert sums["strength"].tolist() == pytest.approx(scores["strength"].tolist())
    one = contributions(con, Settings(), AS_OF, metrics=metrics, account_ids=["B"])
    assert set(one["account_id"]) == {"B"} and len(one) == 4
    assert one.set_index("criterion_id")["weight"].to_dict() == {"size": 2, "fit": 1, "rel": 1, "cov": 1}


def test_weights_from_settings(example) -> None:
    con, metrics = example
    before = score_portfolio(con, Settings(), AS_OF, metrics=metrics)
    # fit weighs 0: attractiveness = 10 × size only: A 0, B 50, C 50, D 0
    settings = Settings({"criteria_weights": {"fit": 0, "unknown": 3}})
    after = score_portfolio(con, settings, AS_OF, metrics=metrics)
    assert after["attractiveness"].tolist() == [0.0, 50.0, 50.0, 0.0]
    assert after["tier"].tolist() == ["Standard", "Silver", "Silver", "Standard"]
    # a zero-weight manual criterion is not counted as missing
    assert after["missing_criteria"].tolist() == [0, 0, 0, 1]
    changes = tier_changes(before, after)
    assert changes["account_id"].tolist() == ["C"]
    assert changes.iloc[0][["tier_before", "tier_after", "direction"]].tolist() == ["Bronze", "Silver", "up"]


def test_axis_without_weight_is_null() -> None:
    con = make_con(
        [("A", 1.0), ("B", 2.0)],
        [("size", "attractiveness", 1.0, "annual_revenue"), ("rel", "strength", 0.0, "manual")],
        [("A", "rel", 8.0)],
    )
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A", "B"], annual_revenue=[1, 2]))
    assert got["strength"].isna().all()
    assert got["quadrant"].isna().all()
    assert got["attractiveness"].tolist() == [0.0, 100.0]
    assert got["tier"].tolist() == ["Standard", "Gold"]
    long = contributions(con, Settings(), AS_OF, metrics=metrics_frame(["A", "B"], annual_revenue=[1, 2]))
    assert long[long["axis"] == "strength"]["contribution"].isna().all()


def test_axis_without_criteria_is_null() -> None:
    con = make_con([("A", 1.0)], [("rel", "strength", 1.0, "manual")], [("A", "rel", 7.0)])
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A"]))
    assert got["attractiveness"].isna().all() and got["tier"].isna().all()
    assert got["tier_stability"].isna().all() and got["is_borderline"].isna().all()
    assert got["strength"].tolist() == [70.0]
    assert got["quadrant"].isna().all()


def test_no_criteria_table() -> None:
    con = make_con([("A", 1.0), ("B", None)], None)
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A", "B"]))
    assert got["account_id"].tolist() == ["A", "B"]
    for column in ("attractiveness", "strength", "tier", "quadrant", "tier_stability"):
        assert got[column].isna().all(), column
    assert contributions(con, Settings(), AS_OF, metrics=metrics_frame(["A", "B"])).empty


def test_empty_criteria_table() -> None:
    con = make_con([("A", 1.0)], [])
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A"]))
    assert got["attractiveness"].isna().all() and got["tier"].isna().all()


def test_single_account_with_metric_scores_zero() -> None:
    # n = 1: percent_rank is 0; the account without the metric scores 0 as well
    con = make_con([("A", 5.0), ("B", None)], [("size", "attractiveness", 1.0, "annual_revenue")])
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A", "B"], annual_revenue=[5, None]))
    assert got["score_size"].tolist() == [0.0, 0.0]


def test_ties_take_the_lowest_rank_after_rounding() -> None:
    # 1.0000001 and 1.0000004 both round to 1.0 at 6 decimals: a tie at rank 1 → 0;
    # 2 is rank 3 → (3-1)/(4-1) = 2/3 → 6.666667; 3 is rank 4 → 10
    con = make_con([(a, None) for a in "ABCD"], [("g", "attractiveness", 1.0, "revenue_growth")])
    metrics = metrics_frame(list("ABCD"), revenue_growth=[1.0000001, 1.0000004, 2.0, 3.0])
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics)
    assert got["score_g"].tolist() == pytest.approx([0.0, 0.0, 20 / 3, 10.0])


@pytest.mark.parametrize(
    ("score", "threshold", "tier"),
    [(5.0, 50, "Silver"), (7.0, 70, "Gold"), (3.0, 30, "Bronze")],
)
def test_tier_boundaries_after_rounding(score: float, threshold: float, tier: str) -> None:
    # weights 0.1 and 0.2: 10 × (0.1·s + 0.2·s) / 0.30000000000000004 is 49.99999999999999
    # for s = 5 (69.99999999999999 for s = 7) — rounded to 6 decimals it is 50 (70)
    raw = 10 * (0.1 * score + 0.2 * score) / (0.1 + 0.2)
    assert round(raw, 6) == threshold
    con = make_con(
        [("A", None)],
        [
            ("x", "attractiveness", 0.1, "manual"),
            ("y", "attractiveness", 0.2, "manual"),
            ("p", "strength", 0.1, "manual"),
            ("q", "strength", 0.2, "manual"),
        ],
        [("A", "x", score), ("A", "y", score), ("A", "p", 5.0), ("A", "q", 5.0)],
    )
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A"]))
    assert got["attractiveness"].iloc[0] == threshold
    assert got["tier"].iloc[0] == tier
    # strength is 49.99999999999999 before rounding: exactly 50 counts as the upper half
    assert got["strength"].iloc[0] == 50.0
    assert got["quadrant"].iloc[0] == ("strategic" if threshold >= 50 else "status")


def test_quadrant_boundary_and_custom_settings() -> None:
    con = make_con(
        [("A", None), ("B", None)],
        [("x", "attractiveness", 1.0, "manual"), ("p", "strength", 1.0, "manual")],
        [("A", "x", 5.0), ("A", "p", 4.99), ("B", "x", 4.99), ("B", "p", 5.0)],
    )
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A", "B"]))
    # A: 50 / 49.9 → star; B: 49.9 / 50 → status
    assert got["quadrant"].tolist() == ["star", "status"]
    settings = Settings(
        {"quadrant_attractiveness": 40, "quadrant_strength": 60, "tiers": [["Top", 50], ["Rest", 10]]}
    )
    got = score_portfolio(con, settings, AS_OF, metrics=metrics_frame(["A", "B"]))
    assert got["quadrant"].tolist() == ["star", "star"]
    assert got["tier"].tolist() == ["Top", "Rest"]
    league = score_portfolio(
        con, Settings({"tier_scheme": "league"}), AS_OF, metrics=metrics_frame(["A", "B"])
    )
    assert league["tier"].tolist() == ["First", "Second"]


def test_below_every_custom_threshold_has_no_tier() -> None:
    con = make_con([("A", None)], [("x", "attractiveness", 1.0, "manual")], [("A", "x", 0.5)])
    got = score_portfolio(
        con, Settings({"tiers": [["Top", 50], ["Rest", 10]]}), AS_OF, metrics=metrics_frame(["A"])
    )
    assert got["attractiveness"].iloc[0] == 5.0
    assert pd.isna(got["tier"].iloc[0]) and pd.isna(got["tier_rank"].iloc[0])
    assert got["tier_stability"].iloc[0] == 1.0  # any weights keep it below 10


def test_stability_one_when_far_from_thresholds() -> None:
    accounts = [("A", None), ("B", None), ("C", None)]
    # every account has equal scores on all criteria: attractiveness = 10 × that score for
    # any weights → 90 (Gold), 40 (Bronze), 0 (Standard), whatever the perturbation
    con = make_con(
        accounts,
        [("x", "attractiveness", 1.0, "manual"), ("y", "attractiveness", 3.0, "manual")],
        [("A", "x", 9), ("A", "y", 9), ("B", "x", 4), ("B", "y", 4), ("C", "x", 0), ("C", "y", 0)],
    )
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A", "B", "C"]))
    assert got["tier"].tolist() == ["Gold", "Bronze", "Standard"]
    assert got["tier_stability"].tolist() == [1.0, 1.0, 1.0]
    assert not got["is_borderline"].any()


def test_stability_of_an_account_on_the_threshold() -> None:
    # scores 10 and 0 with equal weights: exactly 50; a perturbation lowering the first
    # weight drops it to Bronze, raising it keeps Silver → roughly half the runs
    con = make_con(
        [("A", None)],
        [("x", "attractiveness", 1.0, "manual"), ("y", "attractiveness", 1.0, "manual")],
        [("A", "x", 10), ("A", "y", 0)],
    )
    got = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A"]))
    assert got["tier"].iloc[0] == "Silver"
    assert 0.3 < got["tier_stability"].iloc[0] < 0.7
    assert bool(got["is_borderline"].iloc[0])
    # no spread: every run is the base case
    still = score_portfolio(con, Settings({"stability_spread": 0}), AS_OF, metrics=metrics_frame(["A"]))
    assert still["tier_stability"].iloc[0] == 1.0
    # fixed seed: same result twice
    again = score_portfolio(con, Settings(), AS_OF, metrics=metrics_frame(["A"]))
    assert again["tier_stability"].iloc[0] == got["tier_stability"].iloc[0]


def naive_stability(scores, weights, thresholds, base_rank, runs, spread, seed) -> np.ndarray:
    """The definition, one run at a time: perturb, recompute, round, find the tier."""
    rng = np.random.default_rng(seed)
    factors = rng.uniform(1 - spread, 1 + spread, size=(len(weights), runs))
    kept = np.zeros(len(scores))
    for r in range(runs):
        w = weights * factors[:, r]
        attractiveness = np.round(10 * (scores @ w) / w.sum(), 6)
        rank = np.full(len(scores), len(thresholds))
        for t in reversed(range(len(thresholds))):
            rank = np.where(attractiveness >= thresholds[t], t, rank)
        kept += rank == base_rank
    return kept / runs


def test_tier_stability_matches_the_definition() -> None:
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 11, size=(400, 4)).astype(float)
    weights = np.array([3.0, 2.0, 1.0, 0.5])
    thresholds = [70.0, 50.0, 30.0, 0.0]
    base = np.round(10 * scores @ weights / weights.sum(), 6)
    base_rank = np.array([next(i for i, t in enumerate(thresholds) if a >= t) for a in base], float)
    got = tier_stability(scores, weights, thresholds, base_rank, runs=120, spread=0.3, seed=3)
    expected = naive_stability(scores, weights, thresholds, base_rank, 120, 0.3, 3)
    np.testing.assert_array_equal(got, expected)
    assert ((got > 0) & (got < 1)).any()  # the random data has borderline accounts
    assert got.min() >= 0 and got.max() <= 1


def test_tier_stability_edges() -> None:
    scores = np.array([[5.0], [9.0]])
    no_weight = tier_stability(scores, np.array([0.0]), [50.0, 0.0], np.array([0.0, 0.0]))
    assert np.isnan(no_weight).all()
    masked = tier_stability(
        scores, np.array([1.0]), [50.0, 0.0], np.array([0.0, 0.0]), has_attractiveness=np.array([False, True])
    )
    assert np.isnan(masked[0]) and masked[1] == 1.0


def test_metrics_frame_must_have_every_metric() -> None:
    con = make_con([("A", None)], [("x", "attractiveness", 1.0, "manual")])
    with pytest.raises(PortfolioError, match="coverage"):
        score_portfolio(con, Settings(), AS_OF, metrics=pd.DataFrame({"account_id": ["A"]}))


def test_account_metrics_from_the_database() -> None:
    con = duckdb.connect()
    create_schema(con, tables=["accounts", "contacts", "relationships", "revenue", "criteria"])
    con.execute("""
        insert into accounts (account_id, name, annual_revenue) values
            ('A', 'Acme', 1000), ('B', 'Bolt', null);
        insert into contacts (contact_id, account_id, name, piece, attitude, is_active) values
            ('K', 'A', 'Kim', 'king', 'champion', true);
        insert into relationships values ('M1', 'K', 4, null);  -- e = 1 → coverage 100
        insert into revenue values
            ('A', date '2025-06-01', 'L1', 110, 30),   -- ttm
            ('A', date '2024-06-01', 'L1', 100, 20);   -- prior ttm → growth 0.1
        insert into criteria values ('cov', 'Coverage', 'strength', 1, 'coverage'),
                                    ('size', 'Size', 'attractiveness', 1, 'annual_revenue');
    """)
    metrics = account_metrics(con, Settings(), AS_OF)
    assert metrics["account_id"].tolist() == ["A", "B"]
    assert set(DERIVED_METRICS) <= set(metrics.columns)
    a, b = metrics.iloc[0], metrics.iloc[1]
    assert a["annual_revenue"] == 1000 and np.isnan(b["annual_revenue"])
    assert a["coverage"] == 100 and np.isnan(b["coverage"])  # B has no contacts
    assert a["ttm_revenue"] == 110 and a["revenue_growth"] == pytest.approx(0.1)
    assert a["percent_rank_coverage"] == 0 and np.isnan(b["percent_rank_coverage"])
    scores = score_portfolio(con, Settings(), AS_OF, metrics=metrics)
    fresh = score_portfolio(con, Settings(), AS_OF)  # computes the metrics itself
    pd.testing.assert_frame_equal(scores, fresh)
    # ranks computed from a frame without the percent-rank columns give the same scores
    plain = metrics[["account_id", *DERIVED_METRICS]]
    pd.testing.assert_frame_equal(score_portfolio(con, Settings(), AS_OF, metrics=plain), scores)


def test_portfolio_overview(example) -> None:
    con, metrics = example
    scores = score_portfolio(con, Settings(), AS_OF, metrics=metrics)
    growth = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "ttm_revenue": [10.0, 20.0, 30.0, 40.0],
            "ttm_gross_margin": [1.0, None, 3.0, 4.0],
        }
    )
    overview = portfolio_overview(con, Settings(), AS_OF, scores=scores, growth=growth)
    by_tier = overview.by_tier.set_index("tier")
    # tiers: A Standard, B Silver, C Bronze, D Standard; Gold is listed with 0 accounts
    assert by_tier["accounts_count"].to_dict() == {"Gold": 0, "Silver": 1, "Bronze": 1, "Standard": 2}
    assert by_tier.loc["Standard", "ttm_revenue"] == 10 + 40
    assert by_tier.loc["Standard", "ttm_gross_margin"] == 1 + 4
    assert pd.isna(by_tier.loc["Silver", "ttm_gross_margin"])  # B has no margin
    # no revenue table loaded: the revenue sum of an empty tier is null, not 0
    assert pd.isna(by_tier.loc["Gold", "ttm_revenue"])
    by_quadrant = overview.by_quadrant.set_index("quadrant")
    assert by_quadrant["accounts_count"].to_dict() == {
        "strategic": 1,
        "star": 0,
        "status": 1,
        "streamline": 2,
    }
    assert by_quadrant.loc["streamline", "ttm_revenue"] == 10 + 30
    assert overview.top10_share is None and overview.herfindahl is None  # no revenue table


def test_percent_ranks_equal_duckdb_percent_rank() -> None:
    """The pandas ranking used for speed gives exactly DuckDB's percent_rank()."""
    from kam_core.metrics.portfolio import percent_ranks

    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame({"account_id": [f"A{i:04d}" for i in range(n)]})
    for j, metric in enumerate(DERIVED_METRICS):
        values = rng.integers(0, 20, n).astype(float) / 7  # many ties
        values[rng.random(n) < 0.1 * (j % 3)] = np.nan  # some accounts lack the metric
        frame[metric] = values
    frame.loc[0, "win_rate"] = 0.1 + 0.2  # 0.30000000000000004 ties with 0.3 after rounding
    frame.loc[1, "win_rate"] = 0.3
    ours = percent_ranks(frame)
    assert len(ours) == n
    con = duckdb.connect()
    con.register("metrics", frame)
    for metric in DERIVED_METRICS:
        theirs = con.execute(
            f"select case when {metric} is not null then percent_rank() over ("
            f"partition by {metric} is null order by round({metric}, 6)) end as r "
            "from metrics order by account_id"
        ).df()["r"]
        pd.testing.assert_series_equal(ours[f"percent_rank_{metric}"], theirs.astype("float64"), check_names=False)
    assert ours.loc[0, "percent_rank_win_rate"] == ours.loc[1, "percent_rank_win_rate"]


def test_kept_scores_follow_the_criteria_in_force(tmp_path) -> None:
    """base_metrics scores its frame on the side lane and score_portfolio returns those scores
    for the same criteria and settings; another weight (the settings' or the table's) is
    scored afresh."""
    from kam_core.appdata import DEMO_DIR
    from kam_core.asof import resolve_as_of
    from kam_core.ingest.loader import load
    from kam_core.metrics.overview import base_metrics

    db = tmp_path / "demo.duckdb"
    load([DEMO_DIR], db)
    with duckdb.connect(str(db)) as con:
        settings = Settings()
        as_of = resolve_as_of(con, settings)
        metrics = base_metrics(con, settings, as_of).metrics

        def fresh(settings: Settings) -> pd.DataFrame:  # (a copy of the frame has nothing kept)
            return score_portfolio(con, settings, as_of, metrics=metrics.copy())

        kept = score_portfolio(con, settings, as_of, metrics=metrics)
        assert len(kept) == 150 and kept["attractiveness"].notna().all()
        pd.testing.assert_frame_equal(kept, fresh(settings))
        (first,) = con.execute("select min(criterion_id) from criteria where axis = 'attractiveness'").fetchone()
        heavier = Settings({"criteria_weights": {first: 10}})
        reweighted = score_portfolio(con, heavier, as_of, metrics=metrics)
        assert not reweighted["attractiveness"].equals(kept["attractiveness"])
        pd.testing.assert_frame_equal(reweighted, fresh(heavier))
        con.execute("update criteria set weight = weight + 5 where criterion_id = ?", [first])
        edited = score_portfolio(con, settings, as_of, metrics=metrics)
        assert not edited["attractiveness"].equals(kept["attractiveness"])
        pd.testing.assert_frame_equal(edited, fresh(settings))
