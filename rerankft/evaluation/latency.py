"""Quality against per-query latency: the trade-off a user picks a reranker by.

Latency comes from :func:`rerankft.evaluation.cost.query_latency` (each sampled query's
candidates scored alone, score cache off); quality is the benchmark's primary measure.
"""

from __future__ import annotations

from pathlib import Path

from rerankft.core.io import atomic_path
from rerankft.core.systems import FUSED


def latency_points(metrics: dict) -> list[tuple[str, float, float, float]]:
    """(system, p50 ms, p95 ms, primary measure) for every system with a latency measurement."""
    m = metrics["measures"][0]
    points = []
    for s, c in metrics.get("cost", {}).items():
        lat = c.get("latency")
        if lat:
            points.append((s, float(lat["p50_ms"]), float(lat["p95_ms"]), float(metrics["systems"][s][m])))
    return points


def latency_lines(metrics: dict) -> list[str]:
    """One line per reranked system: p50 / p95 / max ms per query, over how many queries."""
    lines = []
    for s, c in metrics.get("cost", {}).items():
        lat = c.get("latency")
        if lat and not s.endswith(FUSED):  # a fused system adds a weighted sum to its reranker's time
            lines.append(f"- {s}: p50 {lat['p50_ms']:.0f} ms, p95 {lat['p95_ms']:.0f} ms, max {lat['max_ms']:.0f} ms "
                         f"per query ({lat['queries']} queries, each query's top {metrics['top_k']} scored alone)")
    return lines


def latency_png(path: str | Path, metrics: dict) -> Path | None:
    """Primary measure (y) against p50 latency (x, log), p95 as the error bar's right end; None without data."""
    points = latency_points(metrics)
    if not points:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for s, p50, p95, q in points:
        ax.errorbar([p50], [q], xerr=[[0], [max(0.0, p95 - p50)]], fmt="o", capsize=3)
        ax.annotate(s, (p50, q), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"ms per query (p50, bar to p95; top {metrics['top_k']} candidates)")
    ax.set_ylabel(metrics["measures"][0])
    ax.set_title(f"{metrics['dataset']} / {metrics['split']}: quality against latency")
    ax.grid(alpha=0.3)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(path)
