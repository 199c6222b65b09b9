"""Score fusion: a reranker's score interpolated with first-stage scores, the weights fit on dev.

Why: a cross-encoder fine-tuned on a few hundred judged pairs is a useful but noisy ranker,
and the first stage (BM25's exact term matches, or the bi-encoder) carries evidence that is
partly independent of it. Interpolating the two is standard practice in reranking
(e.g. Yang, Zhang & Lin 2019, "Simple Applications of BERT for Ad Hoc Document Retrieval",
which interpolates BERT with BM25). Both scores are z-normalised per query over the
candidates, so the weight does not depend on either score's scale:

    fused = (1 - w) * z(reranker) + w * z(first stage)

or, with several signals (BM25's and the bi-encoder's score of every candidate, whichever
first stage supplied the candidates), ``(1 - sum w_i) * z(reranker) + sum w_i * z(signal_i)``.

The weights are chosen on the dev queries (carved from the training split, never the test split)
from a coarse grid; ``w = 0`` (the reranker alone) is on the grid and wins ties, so fusion
only appears where dev queries say it helps. The benchmark reports the fused system as
``<first stage>>><reranker>+fusion`` next to the reranker alone, so both are visible.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping

from rerankft.core.runs import Run, zscores
from rerankft.core.settings import select

log = logging.getLogger("rerankft")


GRID = tuple(round(0.1 * i, 1) for i in range(10))  # 0.0 .. 0.9; 1.0 would be the first stage alone


def fuse(reranked: Run, first_stage: Run, weight: float) -> Run:
    """Interpolate per query over the reranked candidates (the first stage's score of each)."""
    return fuse_signals(reranked, {"first-stage": first_stage}, {"first-stage": weight})


def fuse_signals(reranked: Run, signals: Mapping[str, Run], weights: Mapping[str, float]) -> Run:
    """``(1 - sum w) * z(reranker) + sum w_i * z(signal_i)`` per query over the reranked candidates.

    Every signal must score every candidate (retrievers' ``score_pairs`` do, for any document).
    """
    total = sum(float(w) for w in weights.values())
    if any(float(w) < 0 for w in weights.values()) or total > 1.0 + 1e-9:
        raise ValueError(f"fusion weights must be >= 0 and sum to at most 1, got {dict(weights)}")
    used = {name: float(w) for name, w in weights.items() if float(w) > 0}
    unknown = [n for n in used if n not in signals]
    if unknown:
        raise ValueError(f"fusion weights name signals that were not computed: {unknown}")
    out: Run = {}
    for qid, docs in reranked.items():
        fused = {d: (1.0 - total) * z for d, z in zscores(docs).items()}
        for name, w in used.items():
            sig = signals[name].get(qid, {})
            missing = [d for d in docs if d not in sig]
            if missing:
                raise ValueError(f"query {qid}: reranked documents without a {name} score: {missing[:3]}")
            for d, z in zscores({d: sig[d] for d in docs}).items():
                fused[d] += w * z
        out[qid] = fused
    return out


FIT_RULES = ("share_bagged", "argmax")  # rerank.fusion_fit: how the weights are picked on dev (evaluation.fusion_fit)


def fit_rule(cfg) -> str:
    """``rerank.fusion_fit``; a config from before the key gets the rule of then, ``argmax``."""
    return select(cfg, "rerank.fusion_fit", "argmax")


def alike_points(grid: list[dict[str, float]]) -> list[int]:
    """Indices of the grid points that weight every signal the same (``share_bagged`` fits among these)."""
    return [i for i, g in enumerate(grid) if len(set(g.values())) <= 1]


def weight_grid(signals: list[str], step: float = 0.1, max_total: float = 0.9) -> list[dict[str, float]]:
    """Every weight vector on a ``step`` grid with sum <= ``max_total`` (the reranker keeps >= 1 - max_total).

    Ordered by total weight, so a search that keeps the first best picks the least fusion that does as well.
    """
    n = round(max_total / step)
    combos = [c for c in itertools.product(range(n + 1), repeat=len(signals)) if sum(c) <= n]
    combos.sort(key=lambda c: (sum(c), c))
    return [{s: round(k * step, 6) for s, k in zip(signals, c)} for c in combos]


def fusion_inputs(first_stage_scores, fusion_weight, n: int) -> tuple[dict, dict]:
    """``Reranker.rank``'s fusion arguments as ({signal: scores}, {signal: weight}), checked.

    One list and one float (a single first stage) or two dicts keyed by signal name.
    """
    signals = first_stage_scores if isinstance(first_stage_scores, Mapping) else (
        {"first-stage": first_stage_scores} if first_stage_scores is not None else {})
    weights = dict(fusion_weight) if isinstance(fusion_weight, Mapping) else (
        {"first-stage": fusion_weight} if fusion_weight else {})
    for name, values in signals.items():
        if len(values) != n:
            raise ValueError(f"first_stage_scores has {len(values)} scores for {n} documents ({name})")
    if any(weights.values()) and not signals:
        raise ValueError("fusion_weight needs first_stage_scores (one per document)")
    return signals, weights
