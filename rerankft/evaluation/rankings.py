"""How a reranker's scores become a final ranking, and the oracle ranking of the same candidates.
"""

from __future__ import annotations

from rerankft.core.runs import Qrels, Run, ranked_ids


def rerank_with_tail(first_stage: Run, reranked: Run, top_k: int) -> dict[str, list[str]]:
    """The final ranking of a reranker: its order of the first stage's top-k, then the first stage's tail.

    Documents are never added: anything in ``reranked`` that was not among the top-k
    candidates is ignored, and a candidate the reranker dropped keeps its first-stage
    place after the reranked ones. So Recall@k for k >= top_k equals the first stage's.
    """
    out: dict[str, list[str]] = {}
    for q, scores in first_stage.items():
        order = ranked_ids(scores)
        head, tail = order[:top_k], order[top_k:]
        head_pos = {d: i for i, d in enumerate(head)}
        rr = {d: s for d, s in (reranked.get(q) or {}).items() if d in head_pos}
        # Sort by reranker score; ties keep the first-stage order (deterministic, no doc-id bias).
        new_head = sorted(rr, key=lambda d: (-rr[d], head_pos[d]))
        new_head += [d for d in head if d not in rr]
        out[q] = new_head + tail
    return out


def oracle_rankings(first_stage: Run, qrels: Qrels, top_k: int) -> dict[str, list[str]]:
    """The best any reranker of these candidates can do: top-k sorted by qrels grade, then the tail.

    Ties (equal grade, including unjudged = 0) keep the first-stage order.
    """
    out: dict[str, list[str]] = {}
    for q, scores in first_stage.items():
        order = ranked_ids(scores)
        head, tail = order[:top_k], order[top_k:]
        grades = qrels.get(q, {})
        out[q] = sorted(head, key=lambda d: -grades.get(d, 0)) + tail  # sorted() is stable
    return out
