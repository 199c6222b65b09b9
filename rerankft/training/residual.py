"""Residual training: the cross-encoder learns what BM25 misses, not what it already knows.

With ``loss.residual = b > 0`` every training logit becomes ``model(q, p) + b * z_bm25(q, p)``,
where ``z_bm25`` is the pair's BM25 score z-normalised over the query's BM25 top ``CANDIDATES``.
A row that BM25 already ranks right (its positive far above its negatives) then carries little
gradient, and one that BM25 gets wrong carries most of it: the idea of CLEAR (Gao et al. 2020,
"Complement Lexical Retrieval Model with Semantic Residual Embeddings"), here for the reranker
whose score the benchmark fuses with BM25's anyway. The offsets are fixed numbers computed once
before training; the model, its head and what it loads in are unchanged.

Our own code because sentence-transformers' losses take texts and labels only: the offsets are
looked up by (query text, passage text), the two things the loss sees (a passage the loss sees as a
window, ``train.long_docs``, has none: offset 0). Off by default: on Cranfield's dev queries every
system that used the residual model was lower (README "What to expect").
"""

from __future__ import annotations

import logging

from rerankft.core.errors import ConfigError
from rerankft.core.runs import zscores

log = logging.getLogger("rerankft")

CANDIDATES = 100  # BM25 top-k whose scores set each query's z-normalisation


def bm25_offsets(mined, cfg, weight: float) -> dict[tuple[str, str], float]:
    """``weight * z_bm25`` of every (query text, passage text) pair in ``mined``'s rows."""
    from rerankft.retrieval.factory import build_signal

    ds = mined.dataset
    bm25 = build_signal("bm25", cfg, cfg.cache_dir)
    qids = sorted({r.qid for r in mined.rows})
    top = bm25.retrieve(ds, qids, k=CANDIDATES)
    pairs = sorted({(r.qid, d) for r in mined.rows for d in [r.positive, *r.negatives]})
    scores = dict(zip(pairs, (float(s) for s in bm25.score_pairs(ds, pairs))))
    by_query: dict[str, dict[str, float]] = {}
    for (qid, d), s in scores.items():
        by_query.setdefault(qid, {})[d] = s
    offsets: dict[tuple[str, str], float] = {}
    for qid, docs in by_query.items():
        # z over the query's BM25 top-k and its row documents, so a positive BM25 missed scores low
        z = zscores({**top.get(qid, {}), **docs})
        for d in docs:
            offsets[(ds.queries[qid], ds.doc_text(d))] = weight * z[d]
    log.info("residual training: BM25 offsets (weight %.2f) for %d pairs of %d queries", weight, len(offsets), len(qids))
    return offsets


def residual_weight(cfg, stage: str = "labelled") -> float:
    """The offsets' weight b of a training stage: ``loss.residual``; ``adapt.residual`` (null = the same) for the label-free one."""
    weight = cfg.loss.get("residual")
    if stage == "adapt" and cfg.adapt.get("residual") is not None:
        weight = cfg.adapt.get("residual")
    return float(weight or 0.0)


def attach_offsets(loss, mined, cfg, weight: float) -> int:
    """``weight`` > 0: give ``loss`` the BM25 offsets of ``mined``'s pairs; returns how many."""
    if weight <= 0:
        return 0
    if not hasattr(loss, "offsets"):
        raise ConfigError(f"BM25 offsets (loss.residual / adapt.residual = {weight}) need loss=mnrl_hard: "
                          f"loss '{cfg.loss.get('name')}' takes none")
    loss.offsets = bm25_offsets(mined, cfg, weight)
    return len(loss.offsets)
