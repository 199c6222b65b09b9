"""Dev-only: how to pick the fusion weights from a few dev queries, judged on dev queries the pick never saw.

    python benchmarks/bench_fusion_select.py outputs/train/<run> [<run> ...] [--fit 6 13] [--repeats 300]

For each run and each first stage's candidates (BM25, dense, hybrid top ``rerank.top_k``, reranked by
the run's tuned model; scores come from the score cache), every grid weight vector's nDCG@10 is
computed once per dev query (``weight_table``). Then the dev queries are split, again and again,
into a fitting share and the rest; each rule picks a weight vector on the fitting share and is
scored on the rest:

* ``argmax``: the grid point with the best mean (``rerank.fusion_fit=argmax``, least fusion among ties);
* ``bagged``: the argmax on each of ``--bags`` bootstrap resamples of the fitting share, the
  weight vectors averaged and snapped to the nearest grid point (bagging, Breiman 1996: the
  average of many noisy argmaxes moves less with a query or two than one argmax does);
* ``share``: one number fitted instead of two, tuned's share; BM25 and dense split the rest
  equally (the grid points with equal BM25 and dense weights; 10 instead of 55 candidates);
* ``share_bagged``: the same, bagged (``rerank.fusion_fit=share_bagged``, the pipeline's default:
  :func:`rerankft.evaluation.fusion_fit.pick_weights`);
* ``equal``: a third each to tuned, BM25 and dense (fits nothing).

Splits: ``5-fold`` is the pipeline's own cross-validation (each query held out once); ``fit N``
draws N fitting queries at random ``--repeats`` times (the held-out collection of issue 18 had
6 dev queries). No test query is read.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from bench_fusion import FIRST_STAGES, dev_candidates, score_union, tuned_on
from omegaconf import OmegaConf

from rerankft.data.dataset import dev_seed, training_split
from rerankft.data.loading import load_from_config
from rerankft.evaluation.fusion_fit import best_on, pick_weights, weight_table
from rerankft.retrieval.factory import SIGNALS
from rerankft.scoring.fusion import alike_points

RULES = ("argmax", "bagged", "share", "share_bagged", "equal")


def nearest(grid: list[dict], weights: dict[str, float]) -> int:
    """The grid index closest (Euclidean) to ``weights``; the least fusion among equals."""
    dist = [sum((g[s] - weights[s]) ** 2 for s in g) for g in grid]
    return int(np.argmin(dist))


def bagged(grid: list[dict], table: dict[str, list[float]], qids: list[str], bags: int, rng: random.Random) -> int:
    """Argmax on each bootstrap resample of ``qids``, the weights averaged, snapped to the grid."""
    picks = [grid[best_on(table, [rng.choice(qids) for _ in qids])] for _ in range(bags)]
    return nearest(grid, {s: sum(p[s] for p in picks) / bags for s in grid[0]})


def pick(rule: str, grid, table, qids, bags: int, rng) -> int:
    if rule == "argmax":
        return best_on(table, qids)
    if rule == "bagged":
        return bagged(grid, table, qids, bags, rng)
    if rule == "share":  # pick_weights' one-number fit without the bagging
        idx = alike_points(grid)
        return idx[best_on({q: [table[q][i] for i in idx] for q in qids}, qids)]
    if rule == "share_bagged":
        return pick_weights(grid, table, qids, "share_bagged", seed=rng.randrange(1 << 30))
    return nearest(grid, {s: 1 / (len(grid[0]) + 1) for s in grid[0]})  # tuned and each signal alike


def held_out_means(grid, table, fit: int | None, repeats: int, bags: int, seed: int) -> dict[str, float]:
    """{rule: mean held-out nDCG@10}; ``fit`` None = 5-fold cross-validation, else random fitting shares of that size."""
    qids = sorted(table)
    rng = random.Random(seed)
    scores: dict[str, list[float]] = {r: [] for r in RULES}
    if fit is None:
        order = qids[:]
        rng.shuffle(order)
        k = min(5, len(order))
        for f in range(k):
            rest, test = [q for j, q in enumerate(order) if j % k != f], order[f::k]
            for r in RULES:
                i = pick(r, grid, table, rest, bags, rng)
                scores[r] += [table[q][i] for q in test]
        return {r: float(np.mean(v)) for r, v in scores.items()}
    for _ in range(repeats):
        share = rng.sample(qids, fit)
        test = [q for q in qids if q not in share]
        for r in RULES:
            i = pick(r, grid, table, share, bags, rng)
            scores[r].append(float(np.mean([table[q][i] for q in test])))
    return {r: float(np.mean(v)) for r, v in scores.items()}


def tables(run: Path, signal_names=SIGNALS):
    """{first stage: (grid, per-query table)} for one run's dev queries, fusing ``signal_names``."""
    cfg = OmegaConf.load(run / "config.yaml")
    dataset = load_from_config(cfg.data)
    _, dev = training_split(dataset, cfg)
    firsts, union, signals = dev_candidates(cfg, dataset, dev, signal_names)
    scores = score_union(run, cfg, dataset, union)
    out = {fs: weight_table(dev, tuned_on(scores, first, int(cfg.rerank.top_k)), signals[fs]) for fs, first in firsts.items()}
    return out, dev_seed(cfg), len(dev)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished train run directories (config.yaml, model/)")
    ap.add_argument("--fit", nargs="*", type=int, default=[6], help="fitting-share sizes to draw (besides 5-fold)")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--bags", type=int, default=50, help="bootstrap resamples for the full-grid bagged rule")
    ap.add_argument("--signals", nargs="+", default=list(SIGNALS),
                    help="first stages whose exact scores are fused with tuned's (the pipeline's: bm25 dense)")
    args = ap.parse_args(argv)
    print(f"signals fused with tuned: {', '.join(args.signals)}")
    print("| run (dev queries) | split | " + " | ".join(f"{r}: {', '.join(FIRST_STAGES)} (mean)" for r in RULES) + " |")
    print("|---" * (len(RULES) + 2) + "|")
    for run in args.runs:
        per_stage, seed, n = tables(run, tuple(args.signals))
        for fit in [None, *[f for f in args.fit if f < n - 1]]:
            res = {fs: held_out_means(grid, table, fit, args.repeats, args.bags, seed) for fs, (grid, table) in per_stage.items()}
            cells = []
            for r in RULES:
                values = [res[fs][r] for fs in FIRST_STAGES]
                cells.append(" / ".join(f"{v:.4f}" for v in values) + f" ({np.mean(values):.4f})")
            split = "5-fold" if fit is None else f"fit {fit}, rest held out, {args.repeats} draws"
            print(f"| {run.name} ({n}) | {split} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
