"""A first stage that is a user's TREC run file: its rankings, checked against the data set.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rerankft.core.errors import ConfigError, DataError
from rerankft.core.runs import Run, _read_trec_run_lines, ranked_ids
from rerankft.retrieval.base import (
    _cfg_get,
    _check_k,
    _check_queries,
    _file_sha256,
    corpus_fingerprint,
)

log = logging.getLogger(__name__)


class TrecRunRetriever:
    """Bring your own first stage: candidates and scores come from a TREC run file.

    Documents not in the run have no score: ``score_pairs`` returns NaN for them (mining then
    skips the margin filters for such positives and counts them).
    """

    name = "run"

    def __init__(self, cfg, cache_dir=None):
        path = _cfg_get(cfg, "path", None)
        if not path:
            raise ConfigError("retriever.path is not set: give a TREC run file, e.g. retriever=trec_run retriever.path=runs/bm25.trec")
        self.path = Path(str(path)).expanduser()
        self.run, self._where = _read_trec_run_lines(self.path)
        self._checked_for: str | None = None

    def describe(self) -> dict:
        return {"retriever": "run", "path": str(self.path), "queries": len(self.run),
                "sha256": _file_sha256(self.path)[:16]}

    def _check_docs(self, dataset) -> None:
        fp = corpus_fingerprint(dataset)
        if self._checked_for == fp:
            return
        for (qid, doc_id), lineno in sorted(self._where.items(), key=lambda kv: kv[1]):
            if doc_id not in dataset.corpus:
                raise DataError(f"{self.path}:{lineno}: unknown document id '{doc_id}' (not in the corpus of '{dataset.name}'); "
                                "the run must come from the same corpus")
        self._checked_for = fp

    def retrieve(self, dataset, query_ids, k: int) -> Run:
        query_ids = _check_queries(dataset, query_ids)
        k = _check_k(k)
        self._check_docs(dataset)
        out: Run = {}
        for qid in query_ids:
            if not self.run.get(qid):
                raise DataError(f"{self.path}: query '{qid}' has no candidates in the run file; the run must cover every query "
                                "of the split being mined or evaluated")
            out[qid] = {d: self.run[qid][d] for d in ranked_ids(self.run[qid])[:k]}
        return out

    def score_pairs(self, dataset, pairs: list[tuple[str, str]]) -> np.ndarray:
        self._check_docs(dataset)
        return np.array([self.run.get(q, {}).get(d, np.nan) for q, d in pairs], dtype=np.float32)
