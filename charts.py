"""Plotly figures of the app (presentation only: no data access, no business arithmetic)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui import ATTITUDE_COLOURS, CATEGORY_COLOURS, QUADRANT_COLOURS, SERIES_COLOURS, tier_colour_map

PIECE_SYMBOLS = {"king": "star", "queen": "diamond", "rook": "square", "bishop": "triangle-up",
                 "knight": "pentagon", "pawn": "circle"}
LEVELS = ["executive", "senior", "manager", "operational"]


LARGEST_NAMED = 10  # the matrix names this many of the largest accounts (and the whole top tier)


def matrix_labels(view: pd.DataFrame, top_tier: str, largest: int = LARGEST_NAMED) -> set[str]:
    """The account_ids the matrix names: every account of the top tier and the ``largest`` by
    revenue (by attractiveness when no account has revenue)."""
    by = "ttm_revenue" if view["ttm_revenue"].notna().any() else "attractiveness"
    biggest = view.sort_values(by, ascending=False, na_position="last").head(largest)["account_id"]
    return set(biggest) | set(view.loc[view["tier"] == top_tier, "account_id"])


# where a label can sit around its bubble: (plotly textposition, x side, y side)
_PLACES = (("top center", 0, 1), ("bottom center", 0, -1), ("middle right", 1, 0), ("middle left", -1, 0),
           ("top right", 1, 1), ("top left", -1, 1), ("bottom right", 1, -1), ("bottom left", -1, -1))


def label_positions(named: pd.DataFrame, width_px: float = 740, height_px: float = 470,
                    span: tuple[float, float] = (-3, 103)) -> dict[str, str]:
    """A text position per named bubble so that names do not overlap: greedily, the most
    important first (the order given), each takes the first place around its bubble whose
    text box (estimated in pixels of the usual chart size) touches no name placed before
    and no other named bubble. Columns: account_id, name, strength (x), attractiveness (y),
    size_px (marker diameter in px)."""
    scale_x = width_px / (span[1] - span[0])
    scale_y = height_px / (span[1] - span[0])
    points = [(r.account_id, (r.strength - span[0]) * scale_x, (r.attractiveness - span[0]) * scale_y,
               r.size_px / 2, 6.2 * len(str(r.name)) + 4, 14.0) for r in named.itertuples()]
    placed: list[tuple[float, float, float, float]] = []
    bubbles = [(x - r, y - r, x + r, y + r) for _, x, y, r, _, _ in points]

    def box(x: float, y: float, r: float, w: float, h: float, sx: int, sy: int) -> tuple[float, float, float, float]:
        cx = x + sx * (r + 2 + w / 2) if sx else x
        cy = y + sy * (r + 2 + h / 2) if sy else y
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    out: dict[str, str] = {}
    for i, (account, x, y, r, w, h) in enumerate(points):
        best, best_cost = _PLACES[0], float("inf")
        for place in _PLACES:
            candidate = box(x, y, r, w, h, place[1], place[2])
            cost = sum(overlap(candidate, other) for other in placed)
            cost += sum(overlap(candidate, b) for j, b in enumerate(bubbles) if j != i)
            cost += 1e6 * (candidate[0] < 0 or candidate[2] > width_px or candidate[3] > height_px)
            if cost < best_cost:
                best, best_cost = place, cost
            if cost == 0:
                break
        out[account] = best[0]
        placed.append(box(x, y, r, w, h, best[1], best[2]))
    return out


def portfolio_matrix(view: pd.DataFrame, tier_names: list[str], x_cut: float, y_cut: float, currency: str,
                     labelled: set[str] | None = None) -> go.Figure:
    """Attractiveness (up) × strength (right) bubbles, bubble = ttm revenue, colour = tier; the
    accounts in ``labelled`` carry their name."""
    fig = go.Figure()
    colours = tier_colour_map(tier_names)
    labelled = labelled or set()
    revenue = view["ttm_revenue"].clip(lower=0).fillna(0)
    size_ref = max(revenue.max(), 1.0)
    sizes = 8 + 42 * (revenue / size_ref) ** 0.5
    named = view[view["account_id"].isin(labelled)].assign(size_px=sizes, revenue_sort=revenue)
    positions = label_positions(named.sort_values("revenue_sort", ascending=False))
    for tier in [*tier_names, None]:
        part = view[view["tier"] == tier] if tier is not None else view[view["tier"].isna()]
        if part.empty:
            continue
        size = 8 + 42 * (revenue[part.index] / size_ref) ** 0.5
        label = part["name"].where(part["account_id"].isin(labelled), "")
        fig.add_scatter(
            x=part["strength"], y=part["attractiveness"], mode="markers+text", name=tier or "no tier",
            marker=dict(size=size, color=colours.get(tier, "#BDBDBD"), line=dict(width=1, color="#333"), opacity=0.8),
            text=label.tolist(), textposition=[positions.get(a, "top center") for a in part["account_id"]],
            textfont=dict(size=11, color="#263238"),
            hovertext=part["name"].tolist(),
            customdata=part[["account_id", "ttm_revenue", "quadrant", "tier_stability"]],
            hovertemplate="<b>%{hovertext}</b><br>attractiveness %{y:.0f} · strength %{x:.0f}<br>"
                          f"revenue %{{customdata[1]:,.0f}} {currency}<br>%{{customdata[2]}} · tier stability "
                          "%{customdata[3]:.0%}<extra></extra>",
        )
    fig.add_vline(x=x_cut, line_dash="dash", line_color="#888")
    fig.add_hline(y=y_cut, line_dash="dash", line_color="#888")
    for name, x, y in (("strategic", 100, 100), ("star", 0, 100), ("status", 100, 0), ("streamline", 0, 0)):
        fig.add_annotation(x=x, y=y, text=f"<b>{name}</b>", showarrow=False,
                           xanchor="right" if x else "left", yanchor="top" if y else "bottom",
                           font=dict(color=QUADRANT_COLOURS[name], size=15))
    fig.update_xaxes(title="strength: our position with the customer (0–100)", range=[-3, 103])
    fig.update_yaxes(title="attractiveness of the customer (0–100)", range=[-3, 103])
    return fig


def relationship_network(nodes: pd.DataFrame, edges: pd.DataFrame, member_names: dict[str, str]) -> go.Figure:
    """Team on the left, the customer's people by level on the right (executives first).

    Node shape = chess piece, size = piece value, colour = attitude; edge width = strength,
    faded when the last contact is long ago (effective strength well below strength).
    """
    members = nodes[nodes["kind"] == "member"].reset_index(drop=True)
    people = nodes[nodes["kind"] == "contact"].copy()
    people["level_order"] = people["level"].map({lv: i for i, lv in enumerate(LEVELS)}).fillna(len(LEVELS))
    people = people.sort_values(["level_order", "piece_value", "node_id"], ascending=[True, False, True])
    pos: dict[str, tuple[float, float]] = {}
    n_members = max(len(members), 1)
    for i, row in members.iterrows():
        pos[row["node_id"]] = (0.0, 1 - (i + 0.5) / n_members)
    columns = [lv for lv in [*LEVELS, None] if (people["level"].isna().any() if lv is None else (people["level"] == lv).any())]
    for c, lv in enumerate(columns):
        part = people[people["level"].isna()] if lv is None else people[people["level"] == lv]
        for j, node_id in enumerate(part["node_id"]):
            pos[node_id] = (1.0 + c * 0.55, 1 - (j + 0.5) / max(len(part), 1))
    fig = go.Figure()
    for e in edges.itertuples():
        if e.member_id not in pos or e.contact_id not in pos:
            continue
        (x0, y0), (x1, y1) = pos[e.member_id], pos[e.contact_id]
        freshness = (e.effective_strength / (e.strength / 4)) if e.strength else 0
        fig.add_scatter(x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip", showlegend=False,
                        line=dict(width=0.8 + 1.6 * (e.strength or 0), color=f"rgba(31,78,121,{0.12 + 0.68 * freshness:.2f})"))
    # invisible midpoints carry the edge hover text
    mids = [((pos[e.member_id][0] + pos[e.contact_id][0]) / 2, (pos[e.member_id][1] + pos[e.contact_id][1]) / 2,
             f"{member_names.get(e.member_id, e.member_id)} → {e.contact_id}: strength {e.strength}"
             + (f", last contact {int(e.days_since_contact)} days ago" if pd.notna(e.days_since_contact) else ""))
            for e in edges.itertuples() if e.member_id in pos and e.contact_id in pos]
    if mids:
        fig.add_scatter(x=[m[0] for m in mids], y=[m[1] for m in mids], mode="markers", showlegend=False,
                        marker=dict(size=6, opacity=0), text=[m[2] for m in mids], hovertemplate="%{text}<extra></extra>")
    fig.add_scatter(
        x=[pos[n][0] for n in members["node_id"]], y=[pos[n][1] for n in members["node_id"]],
        mode="markers+text", name="team", text=members["label"], textposition="middle left",
        marker=dict(size=18, symbol="circle", color=["#1F4E79" if a else "#BDBDBD" for a in members["is_active"].fillna(True)]),
        hovertemplate="<b>%{text}</b> (team)<extra></extra>",
    )
    for attitude, colour in ATTITUDE_COLOURS.items():
        part = people[people["attitude"] == attitude]
        if part.empty:
            continue
        # a legend entry with a plain dot: the nodes' own symbols are chess pieces
        fig.add_scatter(x=[None], y=[None], mode="markers", name=attitude, legendgroup=attitude,
                        marker=dict(size=11, color=colour, symbol="circle"))
        fig.add_scatter(
            x=[pos[n][0] for n in part["node_id"]], y=[pos[n][1] for n in part["node_id"]],
            mode="markers+text", name=attitude, legendgroup=attitude, showlegend=False,
            text=part["label"], textposition="middle right",
            marker=dict(size=10 + 2.2 * part["piece_value"].fillna(1), color=colour,
                        symbol=[PIECE_SYMBOLS.get(p, "circle") for p in part["piece"]],
                        line=dict(width=1, color="#333"),
                        opacity=[1.0 if a else 0.35 for a in part["is_active"].fillna(True)]),
            customdata=part[["title", "piece", "level", "department"]].fillna("–"),
            hovertemplate="<b>%{text}</b><br>%{customdata[0]}<br>%{customdata[1]} · %{customdata[2]} · "
                          "%{customdata[3]}<extra>" + attitude + "</extra>",
        )
    for c, lv in enumerate(columns):
        fig.add_annotation(x=1.0 + c * 0.55, y=1.04, text=f"<b>{lv or 'level unknown'}</b>", showarrow=False)
    fig.add_annotation(x=0, y=1.04, text="<b>our team</b>", showarrow=False)
    fig.update_xaxes(visible=False, range=[-0.6, 1.0 + max(len(columns) - 1, 0) * 0.55 + 0.45])
    fig.update_yaxes(visible=False, range=[-0.03, 1.08])
    return fig


def contribution_bars(contrib: pd.DataFrame) -> go.Figure:
    """Per criterion: its contribution to attractiveness or strength (points of 100)."""
    fig = go.Figure()
    for axis, colour in (("attractiveness", "#1F4E79"), ("strength", "#6A4C93")):
        part = contrib[contrib["axis"] == axis].sort_values("contribution")
        fig.add_bar(y=part["name"] + " (" + axis[:5] + ".)", x=part["contribution"], orientation="h", name=axis,
                    marker_color=colour, customdata=part[["score", "weight", "source"]],
                    hovertemplate="%{y}: %{x:.1f} points<br>score %{customdata[0]:.1f}/10 · weight "
                                  "%{customdata[1]:g} · %{customdata[2]}<extra></extra>")
    fig.update_xaxes(title="points contributed (the bars of one axis add up to its score)")
    return fig


def concentration_curve(revenue: pd.Series) -> go.Figure:
    """Cumulative share of revenue against the share of accounts, largest first (Pareto)."""
    values = revenue[revenue > 0].sort_values(ascending=False).reset_index(drop=True)
    total = values.sum()
    fig = go.Figure()
    if total > 0:
        share = values.cumsum() / total * 100
        x = (values.index + 1) / len(values) * 100
        fig.add_scatter(x=[0, *x], y=[0, *share], mode="lines", name="revenue", line=dict(color="#1F4E79", width=3))
        fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", name="even spread", line=dict(color="#BBB", dash="dot"))
    fig.update_xaxes(title="share of accounts, largest first (%)")
    fig.update_yaxes(title="share of revenue, last 12 months (%)")
    return fig


def health_components(components: dict[str, float | None], reason_below: float, status_green: float,
                      status_colours: dict[str, str]) -> go.Figure:
    """The five health components as bars: red below ``reason_below`` (a reason), amber below
    ``status_green``, green above; a component without data is a grey "no data" bar."""
    values = {k: (float(v) if v is not None and not pd.isna(v) else None) for k, v in components.items()}
    colours = [status_colours["no data"] if v is None else status_colours["red"] if round(v, 6) < reason_below
               else status_colours["amber"] if round(v, 6) < status_green else status_colours["green"]
               for v in values.values()]
    fig = go.Figure(go.Bar(
        x=[v if v is not None else 100 for v in values.values()], y=list(values), orientation="h",
        marker_color=colours, marker_opacity=[0.35 if v is None else 1 for v in values.values()],
        text=[f"{v:.0f}" if v is not None else "no data" for v in values.values()], textposition="inside",
        insidetextanchor="end", hovertemplate="%{y}: %{text}<extra></extra>"))
    fig.update_xaxes(range=[0, 100], title="score (0–100)")
    fig.update_yaxes(autorange="reversed")
    return fig


def revenue_by_line(lines: pd.DataFrame, currency: str) -> go.Figure:
    """Monthly revenue stacked by product line, and the month's gross margin as a line."""
    fig = go.Figure()
    for i, (line, part) in enumerate(lines.groupby("product_line", sort=True)):
        fig.add_bar(x=part["period"], y=part["revenue"], name=line, marker_color=CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)])
    margin = lines.groupby("period", as_index=False)["gross_margin"].sum(min_count=1)
    fig.add_scatter(x=margin["period"], y=margin["gross_margin"], name="gross margin", mode="lines",
                    line=dict(color=SERIES_COLOURS["gross margin"], width=3, dash="dot"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=f"{currency} per month")
    return fig
