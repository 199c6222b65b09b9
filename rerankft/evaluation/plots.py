"""report.png: every system's measures with confidence intervals, and the main comparison's wins and losses per query."""

from __future__ import annotations

from pathlib import Path

from rerankft.core.io import atomic_path
from rerankft.core.systems import ORACLE, SEP

# Red and green are kept for the wins/losses panel: no system is drawn in either.
SYSTEM_COLORS = ["tab:blue", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan",
                 "navy", "goldenrod"]


def _winloss_pair(metrics: dict) -> tuple[str, str] | None:
    """tuned vs base on the first first stage; without tuned, the first reranker vs its first stage."""
    names = list(metrics["rerankers"])
    # The first first stage whose candidates were reranked (eval.rerank_first_stages may skip some).
    first_stages = [s for s in metrics["systems"] if SEP not in s and any(f"{s}{SEP}{n}" in metrics["systems"] for n in names)]
    if not first_stages:
        return None
    fs = first_stages[0]
    if "tuned" in names and "base" in names:
        return f"{fs}{SEP}tuned", f"{fs}{SEP}base"
    if names:
        return f"{fs}{SEP}{names[0]}", fs
    return None


def plot(path: Path, metrics: dict, per_query: dict, query_ids: list[str], measure: str) -> Path:
    """Bars per system and measure with 95% CIs; per-query differences in ``measure`` (win/loss) for the main comparison."""
    # The object API with an Agg canvas: no global backend switch, works without a display.
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    measures, systems = metrics["measures"], list(metrics["systems"])
    width_in = min(16.0, max(9.0, 0.3 * len(measures) * len(systems) + 4))
    fig = Figure(figsize=(width_in, 9), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, height_ratios=[3, 2])

    width = 0.8 / len(systems)
    x = np.arange(len(measures))
    colors = [SYSTEM_COLORS[i % len(SYSTEM_COLORS)] for i in range(len(systems))]
    for i, s in enumerate(systems):
        vals = np.array([metrics["systems"][s][m] for m in measures])
        lo = np.array([metrics["ci95"][s][m][0] for m in measures])
        hi = np.array([metrics["ci95"][s][m][1] for m in measures])
        yerr = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        is_oracle = s.endswith(SEP + ORACLE)
        ax1.bar(x + (i - (len(systems) - 1) / 2) * width, vals, width, yerr=yerr, capsize=2, label=s,
                color=colors[i], alpha=0.45 if is_oracle else 0.9, hatch="//" if is_oracle else None, edgecolor="black", linewidth=0.4)
    ax1.set_xticks(x, measures)
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("mean over queries (95% bootstrap CI)")
    ax1.set_title(f"{metrics['dataset']} / {metrics['split']}: {metrics['queries']} queries, top {metrics['top_k']} reranked")
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax1.grid(axis="y", alpha=0.3)

    pair = _winloss_pair(metrics)
    if pair is None:
        ax2.axis("off")
        ax2.text(0.5, 0.5, "no reranker in this benchmark", ha="center", va="center")
    else:
        a, b = pair
        d = np.array([per_query[a][measure][q] - per_query[b][measure][q] for q in query_ids])
        d = np.sort(d)[::-1]
        wins, losses = int((d > 0).sum()), int((d < 0).sum())
        ax2.bar(np.arange(len(d)), d, width=1.0, color=np.where(d > 0, "tab:green", np.where(d < 0, "tab:red", "grey")))
        ax2.axhline(0, color="black", linewidth=0.8)
        ax2.set_xlabel("queries, sorted by difference")
        ax2.set_ylabel(f"{measure} difference")
        ax2.set_title(
            f"{measure} per query, {a} minus {b}: {wins} wins, {losses} losses, "
            f"{len(d) - wins - losses} ties (mean {d.mean():+.3f})", fontsize=10,
        )
        ax2.grid(axis="y", alpha=0.3)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(path)
