"""Dev-only: how far training seeds move the dev figures, and what averaging their models gives.

    python scripts/train.py data=beir_local data.path=<folder> dev.only=true train.seed=43 data.dev_seed=42
    python benchmarks/bench_seeds.py <run seed 42> <run seed 43> [...]

The runs must share their dev queries (``data.dev_seed``, null = ``train.seed``: fix it and vary
``train.seed``). Each run's tuned model reranks every first stage's dev top ``rerank.top_k`` (scores
from the cache); a row per run and one for the ensemble, whose score of a candidate is the mean of
the models' per-query z-scores. Tuned alone and tuned+fusion (weights fitted on dev, at their 5-fold
cross-validated value), each on BM25's, dense's and hybrid's candidates with their mean.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench_fusion import FIRST_STAGES, alone_and_fused, dev_candidates, score_union
from omegaconf import OmegaConf

from rerankft.core.runs import zscores
from rerankft.data.dataset import training_split
from rerankft.data.loading import load_from_config


def shared_dev(runs: list[Path]):
    """The runs' configs, the data set and their common dev qrels; refuses runs whose dev queries differ."""
    cfgs = [OmegaConf.load(r / "config.yaml") for r in runs]
    dataset = load_from_config(cfgs[0].data)
    devs = [training_split(dataset, c)[1] for c in cfgs]
    for run, dev in zip(runs[1:], devs[1:]):
        if sorted(dev) != sorted(devs[0]):
            sys.exit(f"{run}: its dev queries differ from {runs[0]}'s: train them with the same data.dev_seed")
    return cfgs, dataset, devs[0]


def rows(runs: list[Path]) -> list[tuple[str, dict[str, float], dict[str, float]]]:
    """(name, tuned alone per first stage, fused (CV) per first stage) for each run and the ensemble."""
    cfgs, dataset, dev = shared_dev(runs)
    cfg = cfgs[0]
    firsts, union, signals = dev_candidates(cfg, dataset, dev)
    scored = [(run.name, score_union(run, c, dataset, union)) for run, c in zip(runs, cfgs)]
    ensemble = {}
    for q in union:
        zs = [zscores(s[q]) for _, s in scored]
        ensemble[q] = {d: sum(z[d] for z in zs) / len(zs) for d in union[q]}
    out = []
    for name, scores in [*scored, (f"ensemble of {len(runs)}", ensemble)]:
        out.append((name, *alone_and_fused(dev, scores, firsts, signals, cfg)))
    return out


def _cell(values: dict[str, float]) -> str:
    v = [values[fs] for fs in FIRST_STAGES]
    return " / ".join(f"{x:.4f}" for x in v) + f" ({sum(v) / len(v):.4f})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished train runs that share their dev queries")
    args = ap.parse_args(argv)
    print("| model | tuned alone: bm25 / dense / hybrid (mean) | tuned+fusion, 5-fold CV (mean) |\n|---|---|---|")
    for name, alone, fused in rows(args.runs):
        print(f"| {name} | {_cell(alone)} | {_cell(fused)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
