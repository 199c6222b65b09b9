"""Label-free adaptation states compared on every labelled training query.

    python benchmarks/bench_adapt.py <run A> <run B> ...    # runs made with train.max_steps=1

The adaptation stage never reads a label, so a model that has only been through it (a run with
``train.max_steps=1``: one labelled step at a warmup learning rate of 0) can be scored on all of
the training split's judged queries, train and dev together: 135 queries on Cranfield instead of
the 27 dev queries a labelled model can be judged on. Each run's model reranks every first stage's
top ``rerank.top_k`` for those queries (the run's own settings and cache); the table has the mean
nDCG@10 of each system and, against the first run, the paired randomization p of each. No test
query is read. Use it to choose the adaptation stage's settings on more than 27 queries.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import OmegaConf

from rerankft.data.loading import load_from_config
from rerankft.evaluation.fusion_fit import score_dev_systems
from rerankft.evaluation.stats import paired_randomization_test
from rerankft.scoring.loading import run_model_dir


def per_query(run: Path) -> dict[str, dict[str, float]]:
    """Every system's per-query nDCG@10 on all judged training queries, for ``run``'s model."""
    cfg = OmegaConf.load(run / "config.yaml")
    dataset = load_from_config(cfg.data)
    qrels = {q: j for q, j in dataset.split(cfg.data.splits.train).items() if any(g > 0 for g in j.values())}
    return score_dev_systems(cfg, dataset, qrels, run_model_dir(run, "run"), fusion=False).per_query


def table(runs: list[Path], results: list[dict[str, dict[str, float]]]) -> str:
    systems = [s for s in results[0] if all(s in r for r in results)]
    queries = sorted(results[0][systems[0]])
    lines = [f"| run ({len(queries)} queries) | " + " | ".join(systems) + " |", "|---" * (len(systems) + 1) + "|"]
    for run, res in zip(runs, results):
        cells = []
        for s in systems:
            mean = sum(res[s][q] for q in queries) / len(queries)
            cell = f"{mean:.4f}"
            if res is not results[0]:
                a, b = [results[0][s][q] for q in queries], [res[s][q] for q in queries]
                cell += f" (p {paired_randomization_test(b, a):.3f})"
            cells.append(cell)
        lines.append(f"| {run.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="finished train runs (config.yaml, model/); the first is the reference")
    args = ap.parse_args(argv)
    print(table(args.runs, [per_query(r) for r in args.runs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
