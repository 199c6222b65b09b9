"""Training curves for the report: training loss per logging step and dev nDCG@10 per evaluation.

Read from the run's ``train_log.jsonl`` (written by :class:`rerankft.training.train_log.JsonlLogCallback`),
so the curve is there whatever ``train.report_to`` says.
"""

from __future__ import annotations

import json
from pathlib import Path

from rerankft.core.io import atomic_path


def read_curves(log_path: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """([(step, loss)], [(step, dev nDCG@10)]) from a train_log.jsonl; unreadable lines are skipped."""
    loss, dev = [], []
    for line in Path(log_path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("event") == "train" and isinstance(row.get("loss"), (int, float)):
            loss.append((int(row["step"]), float(row["loss"])))
        elif row.get("event") == "eval" and isinstance(row.get("dev_ndcg@10"), (int, float)):
            dev.append((int(row["step"]), float(row["dev_ndcg@10"])))
    return loss, dev


def training_section(out_dir: Path) -> list[str]:
    """report.md lines and training.png for a train run (nothing for an eval run, which has no log)."""
    log_path = Path(out_dir) / "train_log.jsonl"
    if not log_path.is_file():
        return []
    loss, dev = read_curves(log_path)
    if not loss and not dev:
        return []
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if loss:
        ax.plot(*zip(*loss), color="C0", label="training loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss", color="C0")
    if dev:
        ax2 = ax.twinx()
        ax2.plot(*zip(*dev), color="C1", marker="o", label="dev nDCG@10")
        ax2.set_ylabel("dev nDCG@10", color="C1")
    with atomic_path(Path(out_dir) / "training.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    history = ", ".join(f"step {s}: {v:.3f}" for s, v in dev)
    best = max(dev, key=lambda x: x[1]) if dev else None
    lines = ["## Training", "", "![training curves](training.png)", ""]
    if dev:
        lines.append(f"Dev nDCG@10 per evaluation ({history}); the kept checkpoint is step {best[0]} ({best[1]:.3f}).")
    return lines + [""]
