"""Empty passages go last: a rule every backend and every caller of the Reranker gets."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rerankft.core.runs import Run


def demote_empty(texts: Sequence[str], scores: np.ndarray) -> np.ndarray:
    """Empty or whitespace-only passages score 1 below the lowest non-empty one of their list.

    Why: a cross-encoder's score of (query, "") is arbitrary, and the segment_cosine head (mean of
    no passage tokens, i.e. of [SEP] alone) often puts it near the top. Nothing in an empty
    passage can answer a query, so it goes last, in every backend, with a finite score (fusion
    z-scores and JSON need finite numbers).
    """
    empty = np.array([not str(t).strip() for t in texts], dtype=bool)
    if not empty.any() or empty.all() or scores.ndim != 1:
        return scores
    scores = np.array(scores, dtype=np.float64)
    scores[empty] = scores[~empty].min() - 1.0
    return scores.astype(np.float32)


def demote_empty_in_run(run: Run, owners: Sequence[tuple[str, str]], texts: Sequence[str]) -> Run:
    """:func:`demote_empty` per query of a reranked run; ``owners[i]`` = (query id, doc id) of ``texts[i]``."""
    empty = {owner for owner, text in zip(owners, texts) if not str(text).strip()}
    for qid in {q for q, _ in empty}:
        ids = list(run[qid])
        fixed = demote_empty(["" if (qid, d) in empty else "x" for d in ids], np.array([run[qid][d] for d in ids]))
        run[qid] = dict(zip(ids, map(float, fixed)))
    return run
