"""Dev-only: what more labelled queries are worth, a label-budget curve.

    python benchmarks/bench_labels.py ../shared/data/cranfield --budgets 27 54 81 all --seeds 42 43
    python benchmarks/bench_labels.py --summarize outputs/bench_labels/cranfield   # the table of finished runs
                                          # (a full train run's folder counts too: its dev choices are the same)

One ``scripts/train.py ... dev.only=true data.train_queries=<n> train.seed=<s> data.dev_seed=<first seed>``
run per budget and seed. ``data.train_queries`` takes a seeded, nested sample of the training queries
left after the dev carve, and the dev carve is fixed by ``data.dev_seed``, so every run is measured on
the same dev queries and a larger budget only adds labels. No test query is scored. The table has, per
budget, the mean over seeds of: tuned alone and tuned+fusion (5-fold cross-validated) as the mean over
the candidate sets they rerank, the dev maximum's value, and the training time.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean

from bench_quality import REPO, run_train


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path, help="a BEIR folder")
    ap.add_argument("--budgets", nargs="+", default=["27", "54", "all"], help="labelled training queries per run ('all' = null)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[42], help="training seeds; the dev carve keeps the first")
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "bench_labels")
    ap.add_argument("--summarize", nargs="+", type=Path, default=None, metavar="DIR",
                    help="only print the table of the finished runs under these folders")
    return ap.parse_args(argv)


def run_figures(run: Path) -> dict:
    """One run's dev figures: a dev.only run's dev.json, or a full run's fusion.json, train_done.json and
    metrics.json; its seed from config.yaml and its labelled queries from mining.json."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(run / "config.yaml")
    if (run / "dev.json").is_file():
        dev = json.loads((run / "dev.json").read_text())
    else:  # a full run (test scored too) reads as a point of the curve from the same dev choices
        read = lambda name: json.loads((run / name).read_text())
        dev = {"fusion": read("fusion.json"), "dev": read("train_done.json")["dev"], "timings": read("metrics.json")["timings"]}
    values = dev["fusion"]["dev_ndcg@10"]
    tuned = [v for s, v in values.items() if s.endswith(">>tuned")]
    fused = [v for s, v in values.items() if s.endswith("+fusion")]
    final = dev["fusion"]["final"]
    queries = json.loads((run / "mining.json").read_text())["queries"]  # the labelled queries it trained on
    return {"budget": queries, "seed": int(cfg.train.seed),
            "tuned": mean(tuned), "fused": mean(fused), "final": final, "final_value": values[final],
            "labelled_best": dev["dev"]["best_dev"], "train_s": dev["timings"]["training"]}


def _cell(figs: list[dict], key: str) -> str:
    """The mean over seeds, and each seed's value where there are several."""
    each = " (" + " / ".join(f"{f[key]:.4f}" for f in figs) + ")" if len(figs) > 1 else ""
    return f"{mean(f[key] for f in figs):.4f}{each}"


def table(runs: list[Path]) -> str:
    by_budget = defaultdict(list)
    for run in runs:
        fig = run_figures(run)
        by_budget[fig["budget"]].append(fig)
    order = sorted(by_budget)
    lines = [("| labelled queries | seeds | tuned alone (mean over candidate sets) | tuned+fusion, 5-fold CV (mean) "
              "| labelled best (dense's top-k) | final system (dev) | training |"), "|---|---|---|---|---|---|---|"]
    for b in order:
        figs = sorted(by_budget[b], key=lambda f: f["seed"])
        finals = ", ".join(f"{f['final']} {f['final_value']:.4f}" for f in figs)
        lines.append(f"| {b} | {', '.join(str(f['seed']) for f in figs)} | {_cell(figs, 'tuned')} | {_cell(figs, 'fused')} "
                     f"| {_cell(figs, 'labelled_best')} | {finals} | {mean(f['train_s'] for f in figs):.0f} s |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.summarize is not None:
        runs = sorted({p.parent for d in args.summarize for name in ("dev.json", "fusion.json") for p in d.glob(f"**/{name}")})
        if not runs:
            raise SystemExit(f"{' '.join(map(str, args.summarize))}: no finished runs (dev.json or fusion.json) under them")
        print(table(runs))
        return 0
    if args.folder is None or not (args.folder / "corpus.jsonl").is_file():
        raise SystemExit(f"{args.folder}: not a BEIR folder (no corpus.jsonl)")
    folder, runs = args.folder.resolve(), []
    for budget in args.budgets:
        n = "null" if budget == "all" else str(int(budget))
        for seed in args.seeds:
            run = args.out.resolve() / folder.name / f"n{budget}-s{seed}"
            if not (run / "dev.json").is_file():  # a finished run is kept: rerunning the script resumes the grid
                run_train(folder, run, ["dev.only=true", f"data.train_queries={n}", f"train.seed={seed}",
                                        f"data.dev_seed={args.seeds[0]}"])
            runs.append(run)
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
