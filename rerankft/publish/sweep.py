"""Sweep summaries: one row per run of a Hydra multirun, best run picked by the DEV metric.

    python scripts/train.py -m loss=bce,lambda train.learning_rate=1e-5,3e-5
    python scripts/summarize.py outputs/train-sweep/<time>      # (re)write the summary by hand

Hydra gives every job its own directory (``<sweep dir>/<job number>``) holding
``.hydra/overrides.yaml``, ``config.yaml``, ``run_info.json`` and, once the job finished,
``metrics.json``. ``write_summary`` reads those and writes ``summary.md`` and ``summary.csv``
into the sweep directory. ``SweepSummaryCallback`` does that automatically at the end of
every multirun (registered in configs/hydra/default.yaml).

Hydra has no built-in sweep report (the Optuna sweeper only records its best value), so this
is our own small reader over the files each run already writes.

The best run is chosen by the dev metric only. Test metrics are shown for reading, never
used for selection: choosing on test would make the reported test numbers optimistic.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from rerankft.core.errors import ConfigError
from rerankft.core.io import write_text
from rerankft.core.systems import is_reranked

log = logging.getLogger("rerankft")


DEFAULT_DEV_METRIC = "nDCG@10"


@dataclass
class RunRow:
    """What one run directory says about itself."""

    name: str                                   # job directory relative to the sweep dir ("0", "1", ...)
    path: Path
    overrides: list[str] = field(default_factory=list)
    status: str = "ok"                          # ok | incomplete (no metrics.json: failed or still running)
    dev: float | None = None                    # best dev metric of the run (the selection criterion)
    base_dev: float | None = None               # dev metric of the untrained model, for reference
    best_step: Any = None
    train_seconds: float | None = None
    test: dict[str, dict[str, float]] = field(default_factory=dict)  # system -> measure -> value
    best: bool = False


@dataclass
class SweepSummary:
    sweep_dir: Path
    rows: list[RunRow]
    dev_metric: str
    best: RunRow | None
    md_path: Path
    csv_path: Path


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        log.warning("sweep summary: cannot read %s (%s); the run is listed as incomplete", path, e)
        return None


def _read_overrides(run: Path) -> list[str]:
    path = run / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    try:
        return [str(o) for o in (OmegaConf.load(path) or [])]
    except Exception as e:  # a hand-edited or truncated file must not break the whole summary
        log.warning("sweep summary: cannot read %s (%s)", path, e)
        return []


def _dev_metric_name(run: Path) -> str:
    path = run / "config.yaml"
    if path.is_file():
        from omegaconf import OmegaConf

        try:
            name = OmegaConf.select(OmegaConf.load(path), "dev.metric", default=None)
            if name:
                return str(name)
        except Exception:
            pass
    return DEFAULT_DEV_METRIC


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _train_seconds(run: Path, metrics: dict) -> float | None:
    """Training wall-clock time: training writes it to train_done.json ("train": {"seconds"}).

    metrics.json is checked first in case the pipeline copies it there ("train" or "train_seconds").
    """
    train = metrics.get("train") if isinstance(metrics.get("train"), dict) else {}
    done = _read_json(run / "train_done.json") or {}
    done_train = done.get("train") if isinstance(done.get("train"), dict) else {}
    for value in (metrics.get("train_seconds"), train.get("seconds"), done_train.get("seconds")):
        if _number(value) is not None:
            return _number(value)
    return None


def read_run(run: Path, name: str) -> RunRow:
    row = RunRow(name=name, path=run, overrides=_read_overrides(run))
    metrics = _read_json(run / "metrics.json")
    if metrics is None:
        row.status = "incomplete"
        return row
    dev = metrics.get("dev") if isinstance(metrics.get("dev"), dict) else {}
    row.dev = _number(dev.get("best_dev"))
    row.base_dev = _number(dev.get("base_dev"))
    row.best_step = dev.get("best_step")
    row.train_seconds = _train_seconds(run, metrics)
    for system, values in (metrics.get("systems") or {}).items():
        if isinstance(values, dict):
            nums = {m: _number(v) for m, v in values.items()}
            row.test[str(system)] = {m: v for m, v in nums.items() if v is not None}
    return row


def find_runs(sweep_dir: Path) -> list[Path]:
    """Job directories under ``sweep_dir``: any folder with Hydra's overrides file or a metrics.json.

    Searched recursively so that custom ``hydra.sweep.subdir`` patterns with slashes work too.
    """
    found = {p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml")}
    found |= {p.parent for p in sweep_dir.rglob("metrics.json")}
    if found != {sweep_dir}:
        found.discard(sweep_dir)  # a sweep dir is not a job itself (Hydra writes multirun.yaml there); a lone run is
    # Hydra job numbers are integers: sort 2 before 10.
    return sorted(found, key=lambda p: [(0, int(s), "") if s.isdigit() else (1, 0, s) for s in p.relative_to(sweep_dir).parts])


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _varying_keys(rows: list[RunRow]) -> list[str]:
    """Override keys whose value differs between runs: the swept parameters."""
    values: dict[str, set] = {}
    order: list[str] = []
    for row in rows:
        for o in row.overrides:
            k = _override_key(o)
            if k not in values:
                values[k] = set()
                order.append(k)
            values[k].add(o)
    for row in rows:  # a key missing from some runs also varies
        keys = {_override_key(o) for o in row.overrides}
        for k in order:
            if k not in keys:
                values[k].add(None)
    return [k for k in order if len(values[k]) > 1] if len(rows) > 1 else order


def _override_value(row: RunRow, key: str) -> str:
    for o in row.overrides:
        if _override_key(o) == key:
            return o.split("=", 1)[1] if "=" in o else o
    return ""


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def summarize(sweep_dir: str | Path) -> SweepSummary:
    """Read every run of a sweep and pick the best by the dev metric (without writing anything)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"sweep directory not found: {sweep_dir} (pass the folder Hydra printed for the multirun)")
    runs = find_runs(sweep_dir)
    if not runs:
        raise ConfigError(f"no run directories under {sweep_dir}: expected job folders with .hydra/overrides.yaml or metrics.json")
    rows = [read_run(r, str(r.relative_to(sweep_dir))) for r in runs]
    dev_metric = _dev_metric_name(runs[0])
    scored = [r for r in rows if r.dev is not None]
    best = None
    if scored:
        # max() keeps the first of equal values: ties go to the earlier job.
        best = max(scored, key=lambda r: r.dev)
        best.best = True
    return SweepSummary(sweep_dir, rows, dev_metric, best, sweep_dir / "summary.md", sweep_dir / "summary.csv")


def _test_columns(rows: list[RunRow]) -> list[tuple[str, str]]:
    cols: list[tuple[str, str]] = []
    for row in rows:
        for system, values in row.test.items():
            for measure in values:
                if (system, measure) not in cols:
                    cols.append((system, measure))
    return cols


def render_csv(s: SweepSummary) -> str:
    varying = _varying_keys(s.rows)
    test_cols = _test_columns(s.rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run", "best", "status", *varying, f"dev {s.dev_metric}", f"dev base {s.dev_metric}", "best_step",
                "train_seconds", *[f"test {sys} {m}" for sys, m in test_cols], "overrides", "path"])
    for r in s.rows:
        w.writerow([r.name, "yes" if r.best else "", r.status, *[_override_value(r, k) for k in varying],
                    _fmt(r.dev, 6), _fmt(r.base_dev, 6), "" if r.best_step is None else r.best_step,
                    _fmt(r.train_seconds, 1), *[_fmt(r.test.get(sys, {}).get(m), 6) for sys, m in test_cols],
                    " ".join(r.overrides), str(r.path)])
    return buf.getvalue()


def render_markdown(s: SweepSummary) -> str:
    varying = _varying_keys(s.rows)
    # Markdown shows the dev metric for every reranked system; the CSV has every measure.
    md_systems = []
    for sys, m in _test_columns(s.rows):
        if m == s.dev_metric and is_reranked(sys) and sys not in md_systems:
            md_systems.append(sys)
    common = [o for o in (s.rows[0].overrides if s.rows else []) if _override_key(o) not in varying]
    lines = [f"# Sweep summary: {s.sweep_dir.name}", ""]
    lines.append(f"{len(s.rows)} runs, {sum(r.status == 'ok' for r in s.rows)} finished. "
                 f"The best run is picked by **dev {s.dev_metric}** (queries carved from the training split); "
                 "test metrics are shown for reading and never used for selection.")
    if common:
        lines += ["", "Overrides shared by every run: `" + " ".join(common) + "`"]
    lines.append("")
    if s.best is not None:
        over = " ".join(o for o in s.best.overrides if _override_key(o) in varying) or "(no swept overrides)"
        lines.append(f"**Best run: `{s.best.name}`** ({over}): dev {s.dev_metric} {_fmt(s.best.dev)}")
        lines += ["", f"Publish it: `python scripts/push.py run_dir={s.best.path} hub.repo_id=<user>/<model-name>`"]
    else:
        lines.append(f"No run has a dev {s.dev_metric} (evaluation-only sweep, or no run finished): no best run is marked.")
    lines.append("")
    # Columns nobody has (evaluation sweeps: no dev metric, no training) are left out.
    has_dev = any(r.dev is not None for r in s.rows)
    has_time = any(r.train_seconds is not None for r in s.rows)
    header = ["run", *(["best"] if has_dev else []), *varying, *([f"dev {s.dev_metric}", "dev base"] if has_dev else []),
              *[f"test {sys} {s.dev_metric}" for sys in md_systems], *(["train time"] if has_time else []), "status"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for r in s.rows:
        dev_cells = ["**best**" if r.best else ""], [f"**{_fmt(r.dev)}**" if r.best else _fmt(r.dev), _fmt(r.base_dev)]
        cells = [f"`{r.name}`", *(dev_cells[0] if has_dev else []), *[f"`{_override_value(r, k)}`" for k in varying],
                 *(dev_cells[1] if has_dev else []), *[_fmt(r.test.get(sys, {}).get(s.dev_metric)) for sys in md_systems],
                 *(["" if r.train_seconds is None else f"{r.train_seconds:.0f} s"] if has_time else []), r.status]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "All measures of every system are in `summary.csv`; each run's own report is `<run>/report.md`.", ""]
    return "\n".join(lines)


def write_summary(sweep_dir: str | Path) -> SweepSummary:
    """Write ``summary.md`` and ``summary.csv`` into the sweep directory (atomically) and return the summary."""
    s = summarize(sweep_dir)
    write_text(s.csv_path, render_csv(s))
    write_text(s.md_path, render_markdown(s))
    if s.best is not None:
        log.info("sweep summary: %s (best run %s, dev %s %.4f)", s.md_path, s.best.name, s.dev_metric, s.best.dev)
    else:
        log.info("sweep summary: %s (no dev metric: no best run marked)", s.md_path)
    return s


class SweepSummaryCallback(Callback):
    """Hydra callback: write the sweep summary when a multirun ends (configs/hydra/default.yaml)."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            write_summary(sweep_dir)
        except Exception as e:  # the runs themselves are done and saved; a summary problem must not hide that
            log.warning("could not write the sweep summary for %s: %s. Retry with: python scripts/summarize.py %s",
                        sweep_dir, e, sweep_dir)
