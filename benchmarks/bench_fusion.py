"""Dev-only: fusion with fitted weights against fusions that fit nothing, on finished train runs.

    python benchmarks/bench_fusion.py outputs/train/<run> [<run> ...]

For each run the dev queries are carved exactly as training carved them, every first stage's top
``rerank.top_k`` is reranked with the run's tuned model (scores come from the cache), and each
candidate set is scored four ways: tuned alone; the run's own fusion (weights fitted on dev, at its
5-fold cross-validated value, as the final choice sees it); ``z-equal`` (tuned, BM25 and dense
z-scores, a third each); ``rrf3`` (reciprocal-rank fusion, k = 60, of the three rankings). The
signals are the untrained BM25 and dense first stages. No test query is read.

``--title``: two more ways, each fitted like the run's own fusion: ``+title`` adds a third signal, the
bi-encoder's cosine between the query and the passage's title alone (the whole passage where it has no
title), weighted like BM25 and dense under ``share_bagged``; ``dense+title`` keeps two signals, the
dense one being the mean of the dense and title z-scores (docs/experiments.md, "A title signal").
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from omegaconf import OmegaConf

from rerankft.core.metrics import ndcg_at_10
from rerankft.core.runs import ranked_ids, zscores
from rerankft.data.dataset import dev_seed, training_split
from rerankft.data.loading import load_from_config
from rerankft.evaluation.fusion_fit import (
    held_out,
    signal_runs,
    weight_picker,
    weight_table,
)
from rerankft.evaluation.rerankers import make_reranker_factory, rerank_shared
from rerankft.retrieval import factory
from rerankft.retrieval.factory import (
    SIGNALS,
    build_first_stage,
    build_signal,
    rerankable,
)
from rerankft.retrieval.hybrid import rrf
from rerankft.scoring.fusion import fuse_signals
from rerankft.scoring.loading import run_model_dir

# Whose candidates a reranker reorders: the recipe's own reported first stages (configs/train.yaml's
# eval.first_stages) less those that re-order another's (prf): bm25, dense, hybrid.
RECIPE_FIRST_STAGES = OmegaConf.load(Path(__file__).resolve().parents[1] / "configs" / "train.yaml").eval.first_stages
FIRST_STAGES = tuple(rerankable(n for n in factory.FIRST_STAGES if n in RECIPE_FIRST_STAGES))
WAYS = ("tuned", "fitted (CV)", "z-equal", "rrf3")
TITLE_WAYS = ("+title (CV)", "dense+title (CV)")


def dev_candidates(cfg, dataset, dev, signal_names=SIGNALS):
    """The first stages (built once: BM25 and dense are the signals too), their dev top-k, and the union of those.
    ``signal_names``: the first stages whose exact scores the fusion adds (the pipeline's: BM25 and dense)."""
    qids, top_k = sorted(dev), int(cfg.rerank.top_k)
    stages = {n: build_first_stage(n, cfg, cfg.cache_dir) for n in dict.fromkeys([*FIRST_STAGES, *signal_names])}
    firsts = {n: stages[n].retrieve(dataset, qids, k=top_k) for n in FIRST_STAGES}
    union = {q: {d: 0.0 for r in firsts.values() for d in ranked_ids(r.get(q, {}))[:top_k]} for q in qids}
    signals = {fs: signal_runs(dataset, firsts[fs], {s: stages[s] for s in signal_names}) for fs in FIRST_STAGES}
    return firsts, union, signals


def score_union(run: Path, cfg, dataset, union) -> dict:
    """The run's tuned model's score of every pair of ``union`` (one call, cached like the benchmark's)."""
    return score_pairs(run_model_dir(run, "run"), cfg, dataset, union, desc=run.name)


def score_pairs(model_dir, cfg, dataset, union, desc: str) -> dict:
    """Any model folder's score of every pair of ``union``, through the run's reranker settings and score cache."""
    reranker = make_reranker_factory(cfg)(str(model_dir))
    width = max(1, max(len(v) for v in union.values()))
    scores = rerank_shared(reranker, dataset, union, width, sorted(union), desc=desc)
    reranker.close()
    return scores


def tuned_on(scores, first, top_k: int) -> dict:
    """The tuned run on one first stage's candidates: its top-k, each with the tuned score."""
    return {q: {d: scores[q][d] for d in ranked_ids(first.get(q, {}))[:top_k]} for q in scores}


def alone_and_fused(dev, scores, firsts, signals, cfg) -> tuple[dict[str, float], dict[str, float]]:
    """({first stage: tuned alone}, {first stage: tuned+fusion at its CV value}) on the dev queries of run config ``cfg``."""
    tuned = {fs: tuned_on(scores, first, int(cfg.rerank.top_k)) for fs, first in firsts.items()}
    return ({fs: ndcg_at_10(dev, t) for fs, t in tuned.items()},
            {fs: fused_cv(dev, t, signals[fs], cfg) for fs, t in tuned.items()})


def fused_cv(dev, tuned, signals, cfg) -> float:
    """tuned+fusion at its 5-fold cross-validated dev nDCG@10, as the final choice sees it: the folds
    and the weight rule (``rerank.fusion_fit``) are those of the run config ``cfg``."""
    grid, table = weight_table(dev, tuned, signals)
    cv = held_out(table, seed=dev_seed(cfg), fit=weight_picker(cfg, grid, table))
    return sum(cv.values()) / len(cv)


def title_signal(cfg, dataset, candidates) -> dict:
    """The untrained bi-encoder (the run's dense settings) scoring each candidate by its title alone
    (its whole text where the title is empty). One call per run, on the union of the candidate sets:
    the titles are encoded once."""
    titles = {d: {"title": "", "text": (v.get("title") or "").strip() or dataset.doc_text(d)} for d, v in dataset.corpus.items()}
    titled = dataclasses.replace(dataset, corpus=titles)
    return signal_runs(titled, candidates, {"title": build_signal("dense", cfg, None)})["title"]


def title_ways(dev, tuned, sig, cfg, titles) -> dict[str, float]:
    """``+title`` and ``dense+title`` on one candidate set; ``titles``: :func:`title_signal` on a superset of it."""
    title = {q: {d: titles[q][d] for d in docs} for q, docs in tuned.items()}
    both = {}
    for q, docs in tuned.items():
        zd, zt = zscores(sig["dense"][q]), zscores(title[q])
        both[q] = {d: (zd[d] + zt[d]) / 2 for d in docs}
    return {"+title (CV)": fused_cv(dev, tuned, {**sig, "title": title}, cfg),
            "dense+title (CV)": fused_cv(dev, tuned, {**sig, "dense": both}, cfg)}


def fusions(run: Path, title: bool = False) -> dict[str, dict[str, float]]:
    """{first stage: {way: dev nDCG@10}} for one run."""
    cfg = OmegaConf.load(run / "config.yaml")
    dataset = load_from_config(cfg.data)
    _, dev = training_split(dataset, cfg)
    firsts, union, signals = dev_candidates(cfg, dataset, dev)
    scores = score_union(run, cfg, dataset, union)
    titles = title_signal(cfg, dataset, union) if title else None
    out = {}
    for fs, first in firsts.items():
        tuned, sig = tuned_on(scores, first, int(cfg.rerank.top_k)), signals[fs]
        out[fs] = {
            "tuned": ndcg_at_10(dev, tuned),
            "fitted (CV)": fused_cv(dev, tuned, sig, cfg),
            "z-equal": ndcg_at_10(dev, fuse_signals(tuned, sig, {s: 1 / 3 for s in SIGNALS})),
            "rrf3": ndcg_at_10(dev, rrf([tuned, *(sig[s] for s in SIGNALS)], k=60)),
        }
        if title:
            out[fs].update(title_ways(dev, tuned, sig, cfg, titles))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished train run directories (config.yaml, model/)")
    ap.add_argument("--title", action="store_true", help="also fuse a title-only bi-encoder signal (two more ways)")
    args = ap.parse_args(argv)
    ways = WAYS + (TITLE_WAYS if args.title else ())
    print("| run | " + " | ".join(f"{w}: {', '.join(FIRST_STAGES)} (mean)" for w in ways) + " |")
    print("|---" * (len(ways) + 1) + "|")
    for run in args.runs:
        res = fusions(run, title=args.title)
        cells = []
        for way in ways:
            values = [res[fs][way] for fs in FIRST_STAGES]
            cells.append(" / ".join(f"{v:.4f}" for v in values) + f" ({sum(values) / len(values):.4f})")
        print(f"| {run.name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
