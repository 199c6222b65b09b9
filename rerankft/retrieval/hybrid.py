"""Hybrid first stage: BM25 and the dense bi-encoder fused by reciprocal-rank fusion (ranx).

Why: on small domains the two first stages fail on different queries (exact terms vs
paraphrase), and RRF of their top lists (Cormack et al. 2009, k = 60) needs no training and no
score calibration. ranx does the fusion; we only feed it the two runs and read its scores back.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from rerankft.core.errors import ConfigError
from rerankft.core.runs import Run, ranked_ids, truncate_run
from rerankft.retrieval.base import (
    _cfg_get,
    _check_k,
    _check_pairs,
    _check_queries,
    corpus_fingerprint,
    retriever_config,
)
from rerankft.retrieval.bm25 import BM25Retriever
from rerankft.retrieval.dense import DenseRetriever

log = logging.getLogger(__name__)

COMPONENTS = {"bm25": BM25Retriever, "dense": DenseRetriever}


def _component_config(name: str, overrides) -> dict:
    """configs/retriever/<name>.yaml with the hybrid config's ``<name>:`` block laid over it."""
    cfg = retriever_config(name)
    cfg.update({str(k): v for k, v in dict(overrides or {}).items()})
    cfg["kind"] = name
    return cfg


def _single_list_rrf(docs: dict[str, float], k: int) -> dict[str, float]:
    return {d: 1.0 / (k + r) for r, d in enumerate(ranked_ids(docs), 1)}


def rrf(runs: list[Run], k: int) -> Run:
    """Reciprocal-rank fusion of ``runs`` with ranx: score = sum over runs of 1 / (k + rank).

    ranx needs every run to hold the same queries, each with at least one document; a query
    that only some lists rank (BM25 returns nothing when no query term is in the corpus) is the
    RRF of those lists, which for one list is just 1 / (k + rank).
    """
    from ranx import Run as RanxRun
    from ranx import fuse

    present = [{q for q, docs in run.items() if docs} for run in runs]
    everywhere = set.intersection(*present) if present else set()
    fused: Run = {}
    if everywhere and len(runs) > 1:
        ranx_runs = [RanxRun({q: dict(run[q]) for q in sorted(everywhere)}, name=f"run{i}") for i, run in enumerate(runs)]
        with warnings.catch_warnings():  # numba's uint64 -> int64 cast warning inside ranx
            warnings.simplefilter("ignore")
            out = fuse(runs=ranx_runs, norm=None, method="rrf", params={"k": k}).to_dict()
        fused.update({q: {d: float(v) for d, v in docs.items()} for q, docs in out.items()})
    for q in sorted(set().union(*present) - (everywhere if len(runs) > 1 else set())):
        parts = [_single_list_rrf(run[q], k) for run in runs if run.get(q)]
        fused[q] = {d: sum(p.get(d, 0.0) for p in parts) for d in set().union(*parts)}
    return fused


class HybridRetriever:
    """BM25 + dense, each retrieving its top ``depth``, fused by RRF; ``retriever=hybrid``."""

    name = "hybrid"

    def __init__(self, cfg, cache_dir):
        self.method = str(_cfg_get(cfg, "method", "rrf"))
        if self.method != "rrf":
            raise ConfigError(f"retriever.method={self.method!r} is unknown for the hybrid first stage: use rrf")
        self.rrf_k = int(_cfg_get(cfg, "rrf_k", 60))
        self.depth = int(_cfg_get(cfg, "depth", 100))
        if self.rrf_k < 1 or self.depth < 1:
            raise ConfigError(f"retriever.rrf_k and retriever.depth must be >= 1, got {self.rrf_k} and {self.depth}")
        self.components = {name: cls(_component_config(name, _cfg_get(cfg, name, None)), cache_dir)
                           for name, cls in COMPONENTS.items()}
        self._fused: dict[tuple[str, int], dict] = {}  # (corpus fingerprint, depth) -> {(qid, query text): fused scores}

    def describe(self) -> dict:
        return {"retriever": "hybrid", "fusion": f"reciprocal rank fusion (ranx), k={self.rrf_k}",
                "depth": self.depth, "components": {n: r.describe() for n, r in self.components.items()}}

    def _fuse(self, dataset, query_ids: list[str], depth: int) -> dict[str, dict[str, float]]:
        memo = self._fused.setdefault((corpus_fingerprint(dataset), depth), {})
        todo = [q for q in query_ids if (q, dataset.queries[q]) not in memo]
        if todo:
            runs = [r.retrieve(dataset, todo, depth) for r in self.components.values()]
            fused = rrf(runs, self.rrf_k)
            for q in todo:
                memo[q, dataset.queries[q]] = fused.get(q, {})
        return {q: memo[q, dataset.queries[q]] for q in query_ids}

    def retrieve(self, dataset, query_ids, k: int) -> Run:
        query_ids = _check_queries(dataset, query_ids)
        k = _check_k(k)
        # Each component contributes at least its top `depth`; a deeper request deepens both.
        return truncate_run(self._fuse(dataset, query_ids, max(k, self.depth)), k)

    def score_pairs(self, dataset, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The fused score of each pair; 0 for a document outside both components' top ``depth``."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        fused = self._fuse(dataset, _check_pairs(dataset, pairs), self.depth)
        return np.array([fused[q].get(d, 0.0) for q, d in pairs], dtype=np.float32)
