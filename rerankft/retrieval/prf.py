"""Pseudo-relevance feedback first stage: Rocchio on the bi-encoder's vectors, fed by the hybrid's top.

Why: a first stage that needs no training and that a user could run instead of fine-tuning, so the
benchmark must show it. The query vector moves towards the passages the hybrid ranks first,

    q' = normalise(q + beta * mean(vectors of the hybrid's top ``feedback`` passages)),

and the hybrid's top ``depth`` candidates are ordered by cos(q', d) (Rocchio 1971 on dense vectors,
as in Li et al. 2021, "Pseudo Relevance Feedback with Deep Language Models and Dense Retrievers").
Feedback from the hybrid rather than from dense alone, and re-ordering its candidates rather than
searching the corpus again, is what measured best on the training queries (README "What to
expect": Cranfield, 135 training queries, hybrid 0.428 -> 0.463; CISI unchanged). Neither ranx nor
bm25s does vector feedback, and it is a few lines over the embeddings the dense first stage caches.
"""

from __future__ import annotations

import numpy as np

from rerankft.core.errors import ConfigError
from rerankft.core.runs import Run, ranked_ids, truncate_run
from rerankft.retrieval.base import (
    _cfg_get,
    _check_counts,
    _check_k,
    _check_pairs,
    _check_queries,
    corpus_fingerprint,
)
from rerankft.retrieval.hybrid import HybridRetriever, _component_config


def feedback_vector(query: np.ndarray, feedback: np.ndarray, beta: float) -> np.ndarray:
    """normalise(q + beta * mean of the ``feedback`` rows); the query alone (normalised) without any."""
    if len(feedback):
        query = query + float(beta) * feedback.mean(axis=0)
    return query / (np.linalg.norm(query) or 1.0)


class PrfRetriever:
    """The hybrid's top ``depth`` re-ordered by the feedback query vector; ``retriever=prf``."""

    name = "prf"  # its candidates are the hybrid's (factory.REORDERS): reported, not reranked again

    def __init__(self, cfg, cache_dir):
        self.feedback = _cfg_get(cfg, "feedback", 3)
        self.beta = _cfg_get(cfg, "beta", 1.0)
        self.depth = _cfg_get(cfg, "depth", 100)
        _check_counts("prf", {"feedback": self.feedback, "depth": self.depth})
        if isinstance(self.beta, bool) or not isinstance(self.beta, (int, float)) or not self.beta >= 0:
            raise ConfigError(f"retriever.beta={self.beta!r} is invalid for the prf first stage: expected a number >= 0")
        self.leader = HybridRetriever(_component_config("hybrid", _cfg_get(cfg, "hybrid", None)), cache_dir)
        self.dense = self.leader.components["dense"]  # the bi-encoder whose vectors move
        self._memo: dict[tuple[str, int], dict] = {}  # (corpus fingerprint, depth) -> {(qid, text): (q', candidates)}

    def describe(self) -> dict:
        return {"retriever": "prf", "feedback": f"Rocchio on the bi-encoder's vectors, top {self.feedback} of the hybrid",
                "beta": float(self.beta), "depth": self.depth, "leader": self.leader.describe()}

    def _feedback(self, dataset, query_ids: list[str], depth: int) -> dict[str, tuple[np.ndarray, list[str]]]:
        """Each query's feedback vector q' and the hybrid's top ``depth`` (its candidates)."""
        memo = self._memo.setdefault((corpus_fingerprint(dataset), depth), {})
        todo = [q for q in query_ids if (q, dataset.queries[q]) not in memo]
        if todo:
            leader = self.leader.retrieve(dataset, todo, depth)
            _, emb, index = self.dense.corpus_embeddings(dataset)
            for q, vec in zip(todo, self.dense.query_embeddings(dataset, todo)):
                top = ranked_ids(leader.get(q, {}))
                memo[q, dataset.queries[q]] = (feedback_vector(vec, emb[[index[d] for d in top[: self.feedback]]], self.beta), top)
        return {q: memo[q, dataset.queries[q]] for q in query_ids}

    def retrieve(self, dataset, query_ids, k: int) -> Run:
        query_ids = _check_queries(dataset, query_ids)
        k = _check_k(k)
        _, emb, index = self.dense.corpus_embeddings(dataset)
        run: Run = {}
        for q, (vec, docs) in self._feedback(dataset, query_ids, max(k, self.depth)).items():
            scores = emb[[index[d] for d in docs]] @ vec if docs else []
            run[q] = {d: float(s) for d, s in zip(docs, scores)}
        return truncate_run(run, k)

    def score_pairs(self, dataset, pairs: list[tuple[str, str]]) -> np.ndarray:
        """cos(q', d) of each pair, for any document of the corpus (q' needs only the query's feedback)."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        fb = self._feedback(dataset, _check_pairs(dataset, pairs), self.depth)
        _, emb, index = self.dense.corpus_embeddings(dataset)
        return np.array([float(emb[index[d]] @ fb[q][0]) for q, d in pairs], dtype=np.float32)
