"""Fitting the fusion weight on dev queries (the maths of fusion is in :mod:`rerankft.scoring.fusion`).

The weight of ``(1 - w) * z(reranker) + w * z(first stage)`` is chosen on the dev queries carved from
the training split, never on test; ``w = 0`` (the reranker alone) wins ties.
"""

from __future__ import annotations

import logging

from rerankft.core.metrics import ndcg_at_10
from rerankft.core.runs import Run
from rerankft.evaluation.rerankers import make_reranker_factory, reranked_first_stages
from rerankft.retrieval.factory import build_first_stage
from rerankft.scoring.fusion import GRID, fuse

log = logging.getLogger("rerankft")


def fit_weight(qrels, reranked: Run, first_stage: Run, grid=GRID) -> tuple[float, dict[float, float]]:
    """The grid weight with the best dev nDCG@10 (ties go to the smaller weight). Returns (weight, curve)."""
    curve = {float(w): ndcg_at_10(qrels, fuse(reranked, first_stage, float(w))) for w in grid}
    best = max(curve.values())
    weight = min(w for w, v in curve.items() if v >= best - 1e-12)
    return weight, curve


def fit_fusion(cfg, dataset, dev_qrels, model_dir) -> dict | None:
    """Fit a fusion weight for ``model_dir`` on the dev queries, for each first stage the benchmark reranks.

    Every dev query's top ``rerank.top_k`` candidates are scored exactly as the benchmark will
    score the test queries' (same first stage, depth, max_length and backend). Returns what
    ``fusion.json`` holds, or None without dev queries.
    """
    if not dev_qrels:
        log.warning("no dev queries: no fusion weight fitted")
        return None

    top_k = int(cfg.rerank.top_k)
    qids = sorted(dev_qrels)
    reranker = make_reranker_factory(cfg)(str(model_dir))  # the benchmark's own settings
    weights, curves = {}, {}
    for fs in reranked_first_stages(cfg):
        run = build_first_stage(fs, cfg, cfg.get("cache_dir")).retrieve(dataset, qids, k=top_k)
        reranked = reranker.rerank_run(dataset, run, top_k, query_ids=qids, desc=f"dev fusion {fs}")
        weights[fs], curve = fit_weight(dev_qrels, reranked, run)
        curves[fs] = {f"{w:.1f}": round(v, 5) for w, v in curve.items()}
        log.info("fusion with %s: weight %.1f on %d dev queries (dev nDCG@10 %.4f alone -> %.4f fused)",
                 fs, weights[fs], len(qids), curve[0.0], curve[weights[fs]])
    reranker.close()
    return {
        "method": "(1 - w) * z(reranker) + w * z(first stage), z-scores per query over the top-k candidates",
        "weights": weights,
        "dev_queries": len(qids),
        "top_k": top_k,
        "grid": list(GRID),
        "dev_ndcg@10_by_weight": curves,
    }
