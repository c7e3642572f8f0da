"""The charts of the review and the portfolio's history as plotly figures, and static images of
them for the PDF documents.

Figures (no data access, no Streamlit: the app shows them with ``ui.chart``, the PDF as PNG):

- ``relationship_figure(snapshot, settings)`` — the account's relationship map as a snapshot
  holds it: our team on the left, the customer's people by level on the right; shape = chess
  piece, colour = attitude, line width = strength, faded when the effective strength is low;
- ``matrix_figure(now, tier_names, ..., moves=None)`` — attractiveness × strength, bubbles by
  tier, with arrows from an earlier snapshot's position where ``moves`` is given;
- ``history_figure(history)`` — one account's health, coverage and revenue over time.

Static images: ``render_png(figures, settings)`` draws them with kaleido (plotly's own image
export) in the Chrome or Chromium installed on the machine (setting ``chart_browser``, else the
PATH) — no browser download, no network: plotly.js comes from the plotly package, MathJax is
off. Without a browser, or when drawing fails, it returns no images and the reason, and the PDF
is built without them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from kam_core.settings import Settings
from kam_core.workbench.snapshots import AccountSnapshot

PIECE_SYMBOLS = {"king": "star", "queen": "diamond", "rook": "square", "bishop": "triangle-up",
                 "knight": "pentagon", "pawn": "circle"}
ATTITUDE_COLOURS = {"champion": "#1B5E20", "supporter": "#66BB6A", "neutral": "#9E9E9E",
                    "skeptic": "#FFA726", "opponent": "#C62828"}
TIER_COLOURS = ["#C9A227", "#8E9AAF", "#B87333", "#BDBDBD", "#9E9E9E", "#757575"]
QUADRANT_COLOURS = {"strategic": "#1F4E79", "star": "#2E8B57", "status": "#E69F00", "streamline": "#9E9E9E"}
LEVELS = ["executive", "senior", "manager", "operational"]


# ---------------------------------------------------------------- figures


def relationship_figure(snapshot: AccountSnapshot, settings: Settings) -> go.Figure:
    """The relationship map of a snapshot (see the module)."""
    values = settings.piece_values
    contacts = pd.DataFrame(snapshot.contacts, columns=["contact_id", "name", "title", "level", "piece", "attitude",
                                                        "is_active"])
    edges = pd.DataFrame(snapshot.relationships, columns=["member_id", "member_name", "contact_id", "strength",
                                                          "effective_strength", "last_contact_date"])
    members = edges.drop_duplicates("member_id").sort_values(["member_name", "member_id"]).reset_index(drop=True)
    contacts["level_order"] = contacts["level"].map({lv: i for i, lv in enumerate(LEVELS)}).fillna(len(LEVELS))
    contacts["value"] = contacts["piece"].map(values).fillna(values.get("pawn", 1))
    contacts = contacts.sort_values(["level_order", "value", "contact_id"], ascending=[True, False, True])
    pos: dict[tuple[str, str], tuple[float, float]] = {}
    for i, member in enumerate(members["member_id"]):
        pos[("m", member)] = (0.0, 1 - (i + 0.5) / max(len(members), 1))
    levels = [lv for lv in [*LEVELS, None]
              if (contacts["level"].isna().any() if lv is None else (contacts["level"] == lv).any())]
    for c, lv in enumerate(levels):
        part = contacts[contacts["level"].isna()] if lv is None else contacts[contacts["level"] == lv]
        for j, cid in enumerate(part["contact_id"]):
            pos[("c", cid)] = (1.0 + c * 0.6, 1 - (j + 0.5) / max(len(part), 1))
    fig = go.Figure()
    for e in edges.itertuples():
        a, b = pos.get(("m", e.member_id)), pos.get(("c", e.contact_id))
        if a is None or b is None:
            continue
        strength = float(e.strength or 0)
        fresh = float(e.effective_strength or 0) / (strength / 4) if strength else 0.0
        fig.add_scatter(x=[a[0], b[0]], y=[a[1], b[1]], mode="lines", hoverinfo="skip", showlegend=False,
                        line=dict(width=0.6 + 1.4 * strength, color=f"rgba(31,78,121,{0.15 + 0.7 * min(fresh, 1):.2f})"))
    if not members.empty:
        fig.add_scatter(x=[pos[("m", m)][0] for m in members["member_id"]],
                        y=[pos[("m", m)][1] for m in members["member_id"]], mode="markers+text", name="our team",
                        text=list(members["member_name"].fillna(members["member_id"])), textposition="middle left",
                        marker=dict(size=14, color="#1F4E79"))
    for attitude, colour in ATTITUDE_COLOURS.items():
        part = contacts[contacts["attitude"].fillna("neutral") == attitude]
        if part.empty:
            continue
        # a legend entry with a plain dot: the nodes' own symbols are chess pieces
        fig.add_scatter(x=[None], y=[None], mode="markers", name=attitude, legendgroup=attitude,
                        marker=dict(size=10, color=colour, symbol="circle"))
        fig.add_scatter(
            x=[pos[("c", c)][0] for c in part["contact_id"]], y=[pos[("c", c)][1] for c in part["contact_id"]],
            mode="markers+text", name=attitude, legendgroup=attitude, showlegend=False,
            text=list(part["name"].fillna(part["contact_id"])),
            textposition="middle right", textfont=dict(size=10),
            marker=dict(size=8 + 1.8 * part["value"], color=colour, line=dict(width=1, color="#333"),
                        symbol=[PIECE_SYMBOLS.get(p, "circle") for p in part["piece"].fillna("pawn")],
                        opacity=[1.0 if a is not False else 0.35 for a in part["is_active"]]))
    for c, lv in enumerate(levels):
        fig.add_annotation(x=1.0 + c * 0.6, y=1.06, text=f"<b>{lv or 'level unknown'}</b>", showarrow=False)
    fig.add_annotation(x=0, y=1.06, text="<b>our team</b>", showarrow=False)
    fig.update_xaxes(visible=False, range=[-0.55, 1.0 + max(len(levels) - 1, 0) * 0.6 + 0.55])
    fig.update_yaxes(visible=False, range=[-0.04, 1.1])
    fig.update_layout(template="plotly_white", margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.01, x=0))
    return fig


def tier_colours(tier_names: Sequence[str]) -> dict[str, str]:
    return {name: TIER_COLOURS[min(i, len(TIER_COLOURS) - 1)] for i, name in enumerate(tier_names)}


def matrix_figure(now: pd.DataFrame, tier_names: Sequence[str], x_cut: float, y_cut: float,
                  moves: pd.DataFrame | None = None, *, max_arrows: int = 300) -> go.Figure:
    """Attractiveness (up) × strength (right), bubble = revenue, colour = tier; with ``moves``
    (``snapshots.matrix_moves``) an arrow from each account's earlier position to now — the
    ``max_arrows`` largest moves, so that a large portfolio stays readable."""
    fig = go.Figure()
    if moves is not None and not moves.empty:
        shown = moves[moves["distance"] > 0.5].head(max_arrows)
        xs: list[float | None] = []
        ys: list[float | None] = []
        symbols: list[str] = []
        sizes: list[float] = []
        for m in shown.itertuples():
            xs += [m.strength_then, m.strength_now, None]
            ys += [m.attractiveness_then, m.attractiveness_now, None]
            symbols += ["circle", "arrow", "circle"]
            sizes += [0, 11, 0]
        if xs:
            # the arrow head points away from the previous point of the trace: the earlier position
            fig.add_scatter(x=xs, y=ys, mode="lines+markers", name="moved since the snapshot", hoverinfo="skip",
                            line=dict(color="rgba(80,80,80,0.55)", width=1.2),
                            marker=dict(symbol=symbols, size=sizes, angleref="previous", color="rgba(60,60,60,0.8)"))
    colours = tier_colours(tier_names)
    # without revenue (no revenue.csv) every bubble has the smallest size
    size_ref = max(float(now["ttm_revenue"].fillna(0).clip(lower=0).max()), 1.0) if not now.empty else 1.0
    for tier in [*tier_names, None]:
        part = now[now["tier"] == tier] if tier is not None else now[now["tier"].isna()]
        if part.empty:
            continue
        size = 7 + 36 * (part["ttm_revenue"].fillna(0).clip(lower=0) / size_ref) ** 0.5
        fig.add_scatter(x=part["strength"], y=part["attractiveness"], mode="markers", name=tier or "no tier",
                        text=part["name"] if "name" in part.columns else part["account_id"],
                        customdata=part[["account_id"]],
                        marker=dict(size=size, color=colours.get(tier, "#BDBDBD"), opacity=0.8,
                                    line=dict(width=1, color="#333")),
                        hovertemplate="<b>%{text}</b><br>attractiveness %{y:.0f} · strength %{x:.0f}<extra></extra>")
    fig.add_vline(x=x_cut, line_dash="dash", line_color="#888")
    fig.add_hline(y=y_cut, line_dash="dash", line_color="#888")
    for name, x, y in (("strategic", 100, 100), ("star", 0, 100), ("status", 100, 0), ("streamline", 0, 0)):
        fig.add_annotation(x=x, y=y, text=f"<b>{name}</b>", showarrow=False, xanchor="right" if x else "left",
                           yanchor="top" if y else "bottom", font=dict(color=QUADRANT_COLOURS[name], size=14))
    fig.update_xaxes(title="strength: our position with the customer (0–100)", range=[-3, 103])
    fig.update_yaxes(title="attractiveness of the customer (0–100)", range=[-3, 103])
    fig.update_layout(template="plotly_white", margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0))
    return fig


def history_figure(history: pd.DataFrame, currency: str, review_dates: Sequence[Any] = ()) -> go.Figure:
    """Health and coverage (0–100, left axis) and revenue of the last 12 months (right axis) per
    snapshot date (``as_of`` of ``account_history`` plus "now"); dotted lines mark reviews."""
    fig = go.Figure()
    fig.add_scatter(x=history["as_of"], y=history["health"], name="health", mode="lines+markers",
                    line=dict(color="#1F4E79", width=3))
    fig.add_scatter(x=history["as_of"], y=history["coverage"], name="coverage", mode="lines+markers",
                    line=dict(color="#2E8B57", width=2))
    fig.add_scatter(x=history["as_of"], y=history["ttm_revenue"], name=f"revenue, last 12 months ({currency})",
                    mode="lines+markers", yaxis="y2", line=dict(color="#B87333", width=2, dash="dot"))
    for day in review_dates:
        fig.add_vline(x=pd.Timestamp(day).timestamp() * 1000, line_dash="dot", line_color="#9E9E9E")
    fig.update_layout(template="plotly_white", yaxis=dict(title="score (0–100)", range=[0, 102]),
                      yaxis2=dict(title=currency, overlaying="y", side="right", rangemode="tozero", showgrid=False),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), margin=dict(l=10, r=10, t=30, b=10))
    return fig


# ---------------------------------------------------------------- static images


@dataclass(frozen=True)
class Images:
    """PNG images of figures, or none and the reason (for the PDF to say)."""

    pngs: list[bytes]
    problem: str | None = None


BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser(settings: Settings) -> str | None:
    """The Chrome or Chromium to draw with: the setting ``chart_browser`` (a path or a command),
    else the first of ``BROWSER_NAMES`` on the PATH; None when there is none."""
    configured = settings.chart_browser
    if configured:
        found = shutil.which(configured)
        if found:
            return found
        path = Path(configured).expanduser()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return next((p for p in (shutil.which(n) for n in BROWSER_NAMES) if p), None)


def static_safe(fig: go.Figure) -> go.Figure:
    """Texts from the data HTML-escaped (plotly renders tags in texts): a name shows as written."""
    fig = go.Figure(fig)
    for trace in fig.data:
        for attr in ("text", "name"):
            value = trace[attr] if attr in trace else None
            if isinstance(value, str):
                trace[attr] = html.escape(value, quote=False)
            elif isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
                items = value.tolist() if hasattr(value, "tolist") else list(value)
                trace[attr] = [html.escape(v, quote=False) if isinstance(v, str) else v for v in items]
    return fig


def render_png(figures: Sequence[tuple[go.Figure, int, int]], settings: Settings) -> Images:
    """PNG images of ``(figure, width, height)`` (layout pixels; drawn at twice the resolution
    for print), all in one browser session. Never raises for a missing or failing browser:
    returns no images and why."""
    if not figures:
        return Images([])
    browser = find_browser(settings)
    if browser is None:
        where = (f"the setting chart_browser names {settings.chart_browser!r}, which is not a program"
                 if settings.chart_browser else "no Chrome or Chromium was found on this machine")
        return Images([], f"Charts not drawn: {where} (install Debian's chromium package, or set chart_browser).")
    try:
        import kaleido  # noqa: F401  (a clear message below when the package is missing)
    except ImportError:
        return Images([], "Charts not drawn: the kaleido package is not installed (pip install -r requirements.txt).")
    timeout = float(settings.chart_time_limit_s)
    specs = [(static_safe(fig).to_dict(), w, h) for fig, w, h in figures]
    # kaleido is asynchronous; a thread of its own gives it an event loop whatever the caller
    # runs in (Streamlit's script thread, the CLI, a test)
    problem: Exception | None = None
    # a second try: on a busy machine the browser's page may not have loaded kaleido's script
    # when the first figure arrives ("kaleido_scopes is not defined"), a race a new start wins
    for _attempt in range(2):
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(asyncio.run, _draw(specs, browser, timeout))
            try:
                return Images(future.result(timeout=timeout + 30))
            except concurrent.futures.TimeoutError as exc:  # hung: a second try would hang as long
                problem = exc
                break
            except Exception as exc:  # a crashed browser must not stop the document
                problem = exc
    return Images([], f"Charts not drawn: {browser} could not draw them ({type(problem).__name__}: "
                      f"{str(problem)[:200] or 'no message'}).")


async def _draw(specs: list[tuple[dict, int, int]], browser: str, timeout: float) -> list[bytes]:
    import kaleido

    # kaleido and choreographer log each browser start, and choreographer logs a message of the
    # browser's pipe it cannot parse as an error with a traceback (the image still arrives); a
    # real failure raises here and the PDF says why, so their logs stay quiet
    for name in ("kaleido", "logistro"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("choreographer").setLevel(logging.CRITICAL)
    async with kaleido.Kaleido(n=1, timeout=timeout, path=browser, mathjax=False) as k:
        out = []
        for fig, width, height in specs:
            out.append(await k.calc_fig(fig, opts={"format": "png", "width": width, "height": height, "scale": 2}))
        return out
