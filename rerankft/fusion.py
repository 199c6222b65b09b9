"""Score fusion: a reranker's score interpolated with its first stage's score, the weight fit on dev.

Why: a cross-encoder fine-tuned on a few hundred judged pairs is a useful but noisy ranker,
and the first stage (BM25's exact term matches, or the bi-encoder) carries evidence that is
partly independent of it. Interpolating the two is standard practice in reranking
(e.g. Yang, Zhang & Lin 2019, "Simple Applications of BERT for Ad Hoc Document Retrieval",
which interpolates BERT with BM25). Both scores are z-normalised per query over the
candidates, so the weight does not depend on either score's scale:

    fused = (1 - w) * z(reranker) + w * z(first stage)

``w`` is chosen on the dev queries (carved from the training split, never the test split)
from a coarse grid; ``w = 0`` (the reranker alone) is on the grid and wins ties, so fusion
only appears where dev queries say it helps. The benchmark reports the fused system as
``<first stage>>><reranker>+fusion`` next to the reranker alone, so both are visible.
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger("rerankft")

Run = dict[str, dict[str, float]]
SUFFIX = "+fusion"
GRID = tuple(round(0.1 * i, 1) for i in range(10))  # 0.0 .. 0.9; 1.0 would be the first stage alone


def zscores(scores: dict[str, float]) -> dict[str, float]:
    """(x - mean) / std over one query's candidates; all-equal scores map to 0."""
    if not scores:
        return {}
    values = list(scores.values())
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if std < 1e-12:
        return {d: 0.0 for d in scores}
    return {d: (v - mean) / std for d, v in scores.items()}


def fuse(reranked: Run, first_stage: Run, weight: float) -> Run:
    """Interpolate per query over the reranked candidates (the first stage's score of each)."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"fusion weight must be in [0, 1], got {weight}")
    out: Run = {}
    for qid, docs in reranked.items():
        fs = first_stage.get(qid, {})
        missing = [d for d in docs if d not in fs]
        if missing:
            raise ValueError(f"query {qid}: reranked documents without a first-stage score: {missing[:3]}")
        zr, zf = zscores(docs), zscores({d: fs[d] for d in docs})
        out[qid] = {d: (1.0 - weight) * zr[d] + weight * zf[d] for d in docs}
    return out


def fit_weight(qrels, reranked: Run, first_stage: Run, grid=GRID) -> tuple[float, dict[float, float]]:
    """The grid weight with the best dev nDCG@10 (ties go to the smaller weight). Returns (weight, curve)."""
    from rerankft.dev_eval import ndcg_at_10  # imported here: dev_eval pulls in sentence-transformers; the report needs only SUFFIX

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
    from rerankft.benchmark import _default_reranker_factory, reranked_first_stages
    from rerankft.retrieval import build_first_stage

    top_k = int(cfg.rerank.top_k)
    qids = sorted(dev_qrels)
    reranker = _default_reranker_factory(cfg)(str(model_dir))  # the benchmark's own settings
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
