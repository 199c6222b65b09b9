"""Lexical pseudo-relevance feedback: BM25 with an RM3-expanded query; ``retriever=rm3``.

Why: the feedback model Anserini and Pyserini ship beside BM25 (``-bm25 -rm3``; Lavrenko & Croft
2001, relevance models; Abdul-Jaleel et al. 2004, RM3), so a baseline a user would run before
fine-tuning anything. bm25s has no query expansion; the model is a few lines over its per-term scores:

    P(t | R) = sum over the top ``feedback_docs`` passages d of  P(d | q) * tf(t, d) / |d|
    weight(t) = original_weight * (count of t in q) / |q|  +  (1 - original_weight) * P(t | R) over the top ``feedback_terms`` terms

with P(d | q) the softmax of the passages' BM25 scores, and a passage scores sum_t weight(t) * BM25(t, d).
The passages are tokenized by the BM25 index's own analyser (stop words, stemmer), so the expansion
terms are index terms. No training: every judged training query may choose its settings.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from rerankft.core.errors import ConfigError
from rerankft.core.runs import Run, ranked_ids
from rerankft.retrieval.base import (
    _cfg_get,
    _check_counts,
    _check_k,
    _check_pairs,
    _check_queries,
    corpus_fingerprint,
)
from rerankft.retrieval.bm25 import BM25Retriever, top_scored
from rerankft.retrieval.hybrid import _component_config


def expansion_weights(query_terms: list[str], feedback: list[tuple[list[str], float]], terms: int, original: float) -> dict[str, float]:
    """RM3's weighted query: ``original`` * the query's own term distribution + the rest * the top
    ``terms`` of the relevance model over ``feedback`` ((passage tokens, BM25 score) pairs)."""
    weights: Counter = Counter()
    if query_terms:
        for t, c in Counter(query_terms).items():
            weights[t] += original * c / len(query_terms)
    if not feedback:
        return dict(weights)
    scores = np.array([s for _, s in feedback], dtype=np.float64)
    p_doc = np.exp(scores - scores.max())
    p_doc /= p_doc.sum()
    model: Counter = Counter()
    for (tokens, _), p in zip(feedback, p_doc):
        for t, c in Counter(tokens).items():
            model[t] += p * c / max(1, len(tokens))
    top = model.most_common(terms)
    mass = sum(v for _, v in top) or 1.0
    for t, v in top:
        weights[t] += (1.0 - original) * v / mass
    return dict(weights)


class RM3Retriever:
    """BM25 over the expanded query of each query; ``retriever=rm3``."""

    name = "rm3"

    def __init__(self, cfg, cache_dir):
        self.feedback_docs = _cfg_get(cfg, "feedback_docs", 10)
        self.feedback_terms = _cfg_get(cfg, "feedback_terms", 20)
        self.original_weight = _cfg_get(cfg, "original_weight", 0.5)
        _check_counts("rm3", {"feedback_docs": self.feedback_docs, "feedback_terms": self.feedback_terms})
        w = self.original_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0:
            raise ConfigError(f"retriever.original_weight={w!r} is invalid for the rm3 first stage: expected a number in [0, 1]")
        self.bm25 = BM25Retriever(_component_config("bm25", _cfg_get(cfg, "bm25", None)), cache_dir)
        self._memo: dict[str, dict] = {}  # corpus fingerprint -> {(qid, text): expanded query weights}

    def describe(self) -> dict:
        return {"retriever": "rm3", "feedback": f"RM3 over BM25's top {self.feedback_docs}, {self.feedback_terms} terms",
                "original_weight": float(self.original_weight), "bm25": self.bm25.describe()}

    def _weights(self, dataset, query_ids: list[str]) -> dict[str, dict[str, float]]:
        """Each query's expanded query, {index term: weight}; memoised per corpus and query text."""
        memo = self._memo.setdefault(corpus_fingerprint(dataset), {})
        todo = [q for q in query_ids if (q, dataset.queries[q]) not in memo]
        if todo:
            model = self.bm25._get_index(dataset)[2]
            first = self.bm25.retrieve(dataset, todo, self.feedback_docs)
            for q in todo:
                top = ranked_ids(first.get(q, {}))
                tokens = self.bm25._tokenize([dataset.doc_text(d) for d in top]) if top else []
                memo[q, dataset.queries[q]] = expansion_weights(
                    self.bm25.query_terms(model, dataset.queries[q]), [(toks, first[q][d]) for toks, d in zip(tokens, top)],
                    self.feedback_terms, float(self.original_weight))
        return {q: memo[q, dataset.queries[q]] for q in query_ids}

    def _each_query(self, dataset, query_ids: list[str]):
        """(qid, expanded-query BM25 score of every passage, in the index's order), one query at a time
        (a corpus-long array each: kept only while its query is read; a term's scores are not kept
        across queries, which on a large corpus would hold a corpus-long array per distinct term)."""
        model = self.bm25._get_index(dataset)[2]
        for q, weights in self._weights(dataset, query_ids).items():
            scores = np.zeros(model.scores["num_docs"], dtype=np.float32)
            for t, w in weights.items():
                scores += np.float32(w) * np.asarray(model.get_scores([t]), dtype=np.float32)
            yield q, scores

    def retrieve(self, dataset, query_ids, k: int) -> Run:
        query_ids = _check_queries(dataset, query_ids)
        k = _check_k(k)
        ids = self.bm25._get_index(dataset)[1]
        return {q: top_scored(scores, ids, k) for q, scores in self._each_query(dataset, query_ids)}

    def score_pairs(self, dataset, pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        index = self.bm25._get_index(dataset)[3]
        rows: dict[str, list[int]] = {}
        for i, (q, _) in enumerate(pairs):
            rows.setdefault(q, []).append(i)
        out = np.zeros(len(pairs), dtype=np.float32)
        for q, scores in self._each_query(dataset, _check_pairs(dataset, pairs)):
            for i in rows[q]:
                out[i] = scores[index[pairs[i][1]]]
        return out
