"""Quality of the default recipe on BEIR folders: train + benchmark, then one comparison table.

    python benchmarks/bench_quality.py ../shared/data/cranfield ../shared/data/cisi
    python benchmarks/bench_quality.py ../shared/data/cranfield -- train.epochs=1   # extra overrides for every run
    python benchmarks/bench_quality.py --summarize outputs/bench_quality/cranfield  # table of finished runs only
    python benchmarks/bench_quality.py --dev-only ../shared/data/cranfield -- adapt=none  # ablation: dev figures only

Each folder gets one ``python scripts/train.py data=beir_local data.path=<folder>`` run
(the default recipe, nothing tuned per collection) in its own run directory under
``--out``; the table is built from the run's metrics.json, train_done.json and fusion.json,
so it shows exactly what the run reported. Wall time is the whole train.py process: mining,
training, dev selection, fusion fit and the test benchmark.

``--dev-only`` runs ``dev.only=true``: the run stops after its dev choices and the table has
each system's dev nDCG@10 (from fusion.json), so settings are compared without touching test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SEP = ">>"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", help="BEIR folders (corpus.jsonl, queries.jsonl, qrels/{train,test}.tsv)")
    ap.add_argument("--out", default=str(REPO / "outputs" / "bench_quality"), help="one run directory per folder under this")
    ap.add_argument("--summarize", nargs="*", default=None, metavar="RUN_DIR", help="only print the table of these finished runs")
    ap.add_argument("--dev-only", action="store_true", help="dev.only=true: stop each run after its dev choices; dev table")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" is Hydra overrides for every train.py run.
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.overrides = overrides
    return args


def run_train(folder: Path, run_dir: Path, overrides: list[str]) -> float:
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), "data=beir_local", f"data.path={folder}",
           f"hydra.run.dir={run_dir}", *overrides]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")})
    wall = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"train.py failed on {folder} (exit {rc}); its log is in {run_dir}")
    (run_dir / "bench_wall.json").write_text(json.dumps({"wall_s": round(wall, 1)}))
    return wall


def _p(metrics: dict, system: str, baseline: str, measure: str) -> str:
    for c in metrics["comparisons"]:
        if c["system"] == system and c["baseline"] == baseline and c["measure"] == measure:
            return f"{c['delta']:+.3f} (p={c['p_holm']:.3f}{'*' if c['significant'] else ''})"
    return "-"


def _final_note(share: float | None, rule: dict | None = None, shares: dict | None = None, name: str | None = None) -> str:
    """The final system's mark, with the share of bootstrap resamples of the dev queries that choose it
    (or, where dev.min_stability sent the choice to dev.prior, the unsettled dev maximum's share)."""
    best = (rule or {}).get("dev_maximum")
    if best and best != name:
        return f"FINAL (dev.prior: the dev maximum {best} won only {(shares or {}).get(best, 0):.0%} of resamples)"
    return f"FINAL (chosen on dev, {share:.0%} of resamples)" if share is not None else "FINAL (chosen on dev)"


def rows_for(run_dir: Path, measure: str = "nDCG@10") -> list[list[str]]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    done = json.loads((run_dir / "train_done.json").read_text()) if (run_dir / "train_done.json").is_file() else {}
    wall = json.loads((run_dir / "bench_wall.json").read_text())["wall_s"] if (run_dir / "bench_wall.json").is_file() else None
    weights = (metrics.get("fusion") or {}).get("tuned+fusion", {}).get("weights", {})
    systems = metrics["systems"]
    first_stages = [s for s in systems if SEP not in s]
    rows = []
    for s, values in systems.items():
        if s.endswith(SEP + "oracle"):
            continue
        fs = s.split(SEP)[0]
        other = next((o for o in first_stages if o != fs), None)
        note = ""
        if s.endswith("+fusion"):
            w = weights.get(fs, float("nan"))
            note = (" + ".join(f"{v:.1f} {k}" for k, v in w.items()) if isinstance(w, dict) else f"w={w:.1f}") + " (dev)"
        final = metrics.get("final") or {}
        if s == final.get("system"):
            shares = final.get("dev_stability") or {}
            note = (_final_note(shares.get(s), final.get("rule"), shares, s) + " " + note).strip()
        rows.append([
            metrics["dataset"], s, f"{values[measure]:.3f}",
            _p(metrics, s, fs, measure) if SEP in s else "",
            _p(metrics, s, other, measure) if SEP in s and other else "",
            note,
        ])
    train = done.get("train", {})
    dev = done.get("dev", {})
    rows.append([metrics["dataset"], "(run)", "", "", "",
                 f"train {train.get('seconds', float('nan')):.0f} s, total {wall:.0f} s; dev {dev.get('base_dev') or 0:.3f} -> "
                 f"{dev.get('best_dev') or 0:.3f} ({dev.get('queries')} q)" if wall else f"train {train.get('seconds', 0):.0f} s"])
    return rows


def dev_rows_for(run_dir: Path) -> list[list[str]]:
    """A dev.only run's rows: every system's dev nDCG@10 as fusion.json recorded it, and the run's cost."""
    dev = json.loads((run_dir / "dev.json").read_text())
    fusion, train = dev.get("fusion") or {}, dev.get("train") or {}
    name = run_dir.name
    share = (fusion.get("final_stability") or {}).get("share") or {}
    rows = [[name, s, f"{v:.4f}", "", "", _final_note(share.get(s, 0) if share else None, fusion.get("final_rule"), share, s)
             if s == fusion.get("final") else ""]
            for s, v in (fusion.get("dev_ndcg@10") or {}).items()]
    adapt = (train.get("adapt") or {}).get("dev_ndcg@10")
    best = (dev.get("dev") or {}).get("best_dev")
    rows.append([name, "(run)", "", "", "", f"dev top-{(dev.get('dev') or {}).get('top_k')} after adaptation {adapt}, best {best}; "
                 f"timings {dev.get('timings')}"])
    return rows


def table(run_dirs: list[Path]) -> str:
    header = ["data", "system", "nDCG@10", "vs its first stage", "vs the other first stage", "note"]
    rows = [header] + [r for d in run_dirs for r in (dev_rows_for(d) if (d / "dev.json").is_file() else rows_for(d))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    lines = [fmt(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [fmt(r) for r in rows[1:]]
    return "\n".join(lines) + "\n(deltas: nDCG@10 difference, Holm-adjusted paired randomization p; * = significant at 0.05)"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.summarize is not None:
        print(table([Path(d) for d in args.summarize]))
        return 0
    if not args.folders:
        raise SystemExit("give at least one BEIR folder")
    run_dirs = []
    for folder in args.folders:
        folder = Path(folder).resolve()
        if not (folder / "corpus.jsonl").is_file():
            raise SystemExit(f"{folder}: not a BEIR folder (no corpus.jsonl)")
        run_dir = Path(args.out).resolve() / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        wall = run_train(folder, run_dir, args.overrides + (["dev.only=true"] if args.dev_only else []))
        print(f"# {folder.name}: {wall / 60:.1f} min", flush=True)
        run_dirs.append(run_dir)
    print(table(run_dirs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
