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

from rerankft.core.runs import Run

log = logging.getLogger("rerankft")


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
