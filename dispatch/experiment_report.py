"""An experiment's report: one HTML page that opens without a server (figures embedded, also
written as PNGs beside it) with the KPI table per policy, arrival times by area class against
their limits, customers out over time, crew utilisation, a map of the work orders and ETR
accuracy."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from grid_model.network import AREA_NAMES

# The KPIs of the per-policy table: (label, results column, format).
KPI_COLUMNS = (
    ("runs", "runs", "{:.0f}"),
    ("work orders dispatched", "work_orders_dispatched", "{:,.0f}"),
    ("customer-minutes interrupted", "customer_minutes_interrupted", "{:,.0f}"),
    ("SAIDI (min)", "saidi_minutes", "{:.1f}"),
    ("arrivals within limit", "arrival_within_limit_rate", "{:.1%}"),
    ("  urban", "arrival_within_limit_rate_by_area_urban", "{:.1%}"),
    ("  rural", "arrival_within_limit_rate_by_area_rural", "{:.1%}"),
    ("  remote", "arrival_within_limit_rate_by_area_remote", "{:.1%}"),
    ("critical within limit", "critical_arrival_within_limit_rate", "{:.1%}"),
    ("median arrival (min)", "median_arrival_minutes", "{:.0f}"),
    ("repairs within limit", "repair_within_limit_rate", "{:.1%}"),
    ("crew utilisation", "crew_utilisation", "{:.1%}"),
    ("first ETR within 1 h", "etr_first_within_1h_rate", "{:.1%}"),
    ("utility's own customer-minutes", "utility_customer_minutes_interrupted", "{:,.0f}"),
    ("utility's first ETR within 1 h", "utility_etr_first_within_1h_rate", "{:.1%}"),
    ("history rows skipped (bad)", "history_rows_skipped", "{:.0f}"),
    ("history extents inferred", "history_extent_inferred", "{:,.0f}"),
    ("  from the device id", "history_extent_from_device_id", "{:,.0f}"),
    ("  from customers affected", "history_extent_from_customers", "{:,.0f}"),
    ("history restoration-only rows", "history_restoration_only", "{:,.0f}"),
    ("  started when first seen", "history_start_from_first_seen", "{:,.0f}"),
    ("  started a median duration before", "history_start_from_median_duration", "{:,.0f}"),
    ("history events without circuit id", "history_without_circuit_id", "{:,.0f}"),
    ("history events without device id", "history_without_device_id", "{:,.0f}"),
    ("replay seconds", "replay_seconds", "{:.1f}"),
)


def _png(fig: plt.Figure, folder: Path, name: str) -> str:
    """Save ``fig`` as ``folder/name.png``; return an <img> with the PNG embedded."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    (folder / f"{name}.png").write_bytes(data)
    return (f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
            f'{base64.b64encode(data).decode()}"><figcaption>{html.escape(name)}.png</figcaption></figure>')


def kpi_table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean of each KPI over a storm and policy's successful runs (rows: KPIs)."""
    ok = results[results["status"] == "ok"].copy()
    ok["runs"] = 1
    cols = [c for _, c, _ in KPI_COLUMNS if c in ok.columns]
    agg = {c: ("sum" if c == "runs" else "mean") for c in cols}
    grouped = ok.groupby(["storm", "policy"], sort=True).agg(agg)
    return grouped.T


def _format_table(table: pd.DataFrame) -> str:
    labels = {c: (label, fmt) for label, c, fmt in KPI_COLUMNS}
    head = "".join(f"<th>{html.escape(s)}<br>{html.escape(p)}</th>" for s, p in table.columns)
    rows = []
    for col, values in table.iterrows():
        label, fmt = labels[str(col)]
        cells = "".join("<td>–</td>" if pd.isna(v) else f"<td>{fmt.format(v)}</td>" for v in values)
        rows.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f"<table><tr><th>KPI (mean over runs)</th>{head}</tr>{''.join(rows)}</table>"


def _load(out_dir: Path, run_id: str, name: str) -> pd.DataFrame | None:
    path = out_dir / "runs" / run_id / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def _tables(runs: pd.DataFrame, out_dir: Path, name: str) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each run's ``name`` table with the run's legend label; runs without one are skipped."""
    for _, run in runs.iterrows():
        table = _load(out_dir, run["run_id"], name)
        if table is not None:
            yield f"{run['policy']} ({run['run_id']})", table


def _arrival_figure(runs: pd.DataFrame, out_dir: Path) -> plt.Figure:
    """Per area class with orders, the share of orders reached within x minutes of their
    first report (log scale, under a minute drawn at one), the limit dashed."""
    tables = list(_tables(runs, out_dir, "orders"))
    present = {str(a) for _, t in tables for a in t["area"].unique()}
    areas = [a for a in AREA_NAMES if a in present] or [AREA_NAMES[0]]
    fig, axes = plt.subplots(1, len(areas), figsize=(4.4 * len(areas), 3.6), sharey=True, squeeze=False)
    for ax, area in zip(axes[0], areas, strict=True):
        for label, orders in tables:
            sel = orders[orders["area"] == area]
            if not len(sel):
                continue
            limit = float(sel["arrival_limit_s"].iloc[0]) / 60
            minutes = np.sort(sel["arrival_s"].to_numpy(dtype=float) / 60)
            reached = np.maximum(minutes[~np.isnan(minutes)], 1.0)
            ax.step(reached, np.arange(1, len(reached) + 1) / len(minutes), where="post", label=label)
            ax.axvline(limit, color="k", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"{area}: share of orders reached")
        ax.set_xlabel("minutes from first report")
    axes[0][0].set_ylabel("share of orders")
    if present:
        axes[0][0].legend(fontsize=7, title="limit dashed", title_fontsize=7)
    return fig


def _timeline_figure(runs: pd.DataFrame, out_dir: Path) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for label, tl in _tables(runs, out_dir, "timeline"):
        ax.step(tl["t_s"] / 3600, tl["customers_out"], where="post", label=label)
    ax.set_xlabel("hours from storm start")
    ax.set_ylabel("customers out")
    ax.legend(fontsize=7)
    return fig


def _crew_figure(runs: pd.DataFrame, out_dir: Path) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, crews in _tables(runs, out_dir, "crews"):
        on_duty = crews[crews["duty_s"] > 0]
        ax.hist(on_duty["busy_s"] / on_duty["duty_s"], bins=20, range=(0, 1), histtype="step", label=label)
    ax.set_xlabel("share of duty time at work (travel and repair)")
    ax.set_ylabel("crews")
    ax.legend(fontsize=7)
    return fig


def _etr_figure(runs: pd.DataFrame, out_dir: Path) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, orders in _tables(runs, out_dir, "orders"):
        err = orders["first_etr_error_s"].dropna() / 3600
        ax.hist(err.clip(-24, 24), bins=48, range=(-24, 24), histtype="step", label=label)
    ax.axvspan(-1, 1, color="g", alpha=0.1)
    ax.set_xlabel("first ETR minus repair, hours (clipped at ±24)")
    ax.set_ylabel("orders")
    ax.legend(fontsize=7)
    return fig


def _map_figure(run: pd.Series, out_dir: Path) -> plt.Figure | None:
    orders = _load(out_dir, run["run_id"], "orders")
    if orders is None or not len(orders):
        return None
    fig, ax = plt.subplots(figsize=(7, 6))
    late = orders["arrival_s"].isna() | (orders["arrival_s"] > orders["arrival_limit_s"])
    size = 4 + 30 * np.sqrt(orders["customers"].clip(lower=1) / max(1, orders["customers"].max()))
    ax.scatter(orders.loc[~late, "x_m"] / 1000, orders.loc[~late, "y_m"] / 1000, s=size[~late], c="tab:green",
               alpha=0.5, label="reached within limit", lw=0)
    ax.scatter(orders.loc[late, "x_m"] / 1000, orders.loc[late, "y_m"] / 1000, s=size[late], c="tab:red",
               alpha=0.5, label="late or never reached", lw=0)
    ax.set_aspect("equal")
    ax.set_xlabel("easting, km")
    ax.set_ylabel("northing, km")
    ax.set_title(f"work orders, {run['policy']} ({run['run_id']}); size: customers")
    ax.legend(fontsize=7)
    return fig


def write_report(results: pd.DataFrame, out_dir: Path, *, title: str) -> Path:
    """``out_dir/report.html`` and its figures under ``out_dir/figures/``."""
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{len(results)} runs, {int((results['status'] == 'ok').sum())} succeeded.</p>",
             "<h2>KPIs per policy</h2>", _format_table(kpi_table(results))]
    failed = results[results["status"] != "ok"]
    if len(failed):
        items = "".join(f"<li>{html.escape(r['run_id'])} ({html.escape(r['storm'])}, "
                        f"{html.escape(r['policy'])}): {html.escape(r['error'])}</li>"
                        for _, r in failed.iterrows())
        parts.append(f"<h2>Failed runs</h2><ul class='failed'>{items}</ul>")
    for storm, runs in results[results["status"] == "ok"].groupby("storm", sort=True):
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(storm))
        # one run per policy in the figures: the first of each (lowest seed and parameters)
        shown = runs.sort_values("run_id").groupby("policy", sort=True).head(1)
        parts.append(f"<h2>Storm {html.escape(str(storm))}</h2>")
        parts.append("<h3>Arrival times by area class against the limit</h3>"
                     + _png(_arrival_figure(shown, out_dir), figures, f"{safe}-arrivals"))
        parts.append("<h3>Customers out over time</h3>"
                     + _png(_timeline_figure(shown, out_dir), figures, f"{safe}-customers-out"))
        parts.append("<h3>Crew utilisation</h3>"
                     + _png(_crew_figure(shown, out_dir), figures, f"{safe}-crews"))
        parts.append("<h3>ETR accuracy</h3>" + _png(_etr_figure(shown, out_dir), figures, f"{safe}-etr"))
        for _, run in shown.iterrows():
            fig = _map_figure(run, out_dir)
            if fig is not None:
                parts.append(f"<h3>Map of work orders, {html.escape(run['policy'])}</h3>"
                             + _png(fig, figures, f"{safe}-map-{run['policy']}"))
    columns = [c for c in ("run_id", "storm", "policy", "seed", "status", "wall_seconds",
                           "customer_minutes_interrupted", "arrival_within_limit_rate")
               if c in results.columns]
    columns += [c for c in results.columns if c.startswith(("option_", "param_"))]
    parts.append("<h2>All runs</h2>" + results[columns].to_html(index=False, na_rep="–",
                                                                float_format="{:,.4g}".format))
    style = ("body{font-family:sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}"
             "figcaption{font-size:small;color:#666}.failed{color:#a00}")
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
