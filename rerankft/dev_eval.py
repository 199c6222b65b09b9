"""Dev-set model selection: rerank the dev queries' first-stage top-k and score nDCG@10.

The trainer calls :class:`DevRerankEvaluator` at every evaluation step; it returns
``{"dev_ndcg@10": value}`` and declares it as ``primary_metric`` so that the trainer's
``metric_for_best_model`` / ``load_best_model_at_end`` keep the best checkpoint.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ir_measures
from sentence_transformers.base.evaluation import BaseEvaluator

log = logging.getLogger("rerankft")

DEV_METRIC_KEY = "dev_ndcg@10"


def top_k_run(run: dict[str, dict[str, float]], query_ids: list[str], k: int) -> dict[str, dict[str, float]]:
    """Keep each query's k best first-stage candidates (ties broken by doc id, so the cut is deterministic)."""
    out = {}
    for qid in query_ids:
        ranked = sorted(run.get(qid, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        out[qid] = dict(ranked)
    return out


def ndcg_at_10(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> float:
    """Mean nDCG@10 over *all* dev queries: a query the first stage missed entirely counts as 0.

    ir_measures averages only over queries present in the run, which would reward a
    first stage that returns nothing for hard queries; so we average ourselves.
    """
    if not qrels:
        return 0.0
    per_query = {m.query_id: m.value for m in ir_measures.iter_calc([ir_measures.nDCG @ 10], qrels, run)}
    return float(sum(per_query.get(qid, 0.0) for qid in qrels) / len(qrels))


def _rerank_with_predict(model, dataset, run, batch_size: int) -> dict[str, dict[str, float]]:
    """Score every (query, candidate) pair with ``CrossEncoder.predict`` (one call, so batches fill up)."""
    keys, pairs = [], []
    for qid, docs in run.items():
        for doc_id in docs:
            keys.append((qid, doc_id))
            pairs.append((dataset.queries[qid], dataset.doc_text(doc_id)))
    scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=False) if pairs else []
    out: dict[str, dict[str, float]] = {qid: {} for qid in run}
    for (qid, doc_id), s in zip(keys, scores):
        out[qid][doc_id] = float(s)
    return out


class DevRerankEvaluator(BaseEvaluator):
    """Rerank the dev queries' first-stage top-k with the model being trained; primary metric dev nDCG@10.

    ``history`` keeps one entry per call (step, epoch, score, seconds) for the run summary.
    """

    def __init__(self, dataset, dev_qrels, dev_run, top_k: int, batch_size: int = 64, max_length: int | None = None):
        super().__init__()
        self.dataset = dataset
        self.qrels = {qid: {d: int(g) for d, g in docs.items()} for qid, docs in dev_qrels.items()}
        self.run = top_k_run(dev_run, sorted(self.qrels), top_k)
        self.top_k = top_k
        self.batch_size = batch_size
        self.max_length = max_length
        self.primary_metric = DEV_METRIC_KEY
        self.greater_is_better = True
        self.history: list[dict[str, Any]] = []

    def rerank(self, model) -> dict[str, dict[str, float]]:
        try:
            from rerankft.rerank import Reranker
        except ImportError:
            # rerank.py is optional here: predict gives the same scores (Reranker's contract).
            return _rerank_with_predict(model, self.dataset, self.run, self.batch_size)
        # No score cache: the model changes between evaluations.
        reranker = Reranker(model, backend="torch", max_length=self.max_length, batch_size=self.batch_size, cache_dir=None)
        return reranker.rerank_run(self.dataset, self.run, self.top_k, query_ids=sorted(self.qrels), desc="dev rerank")

    def __call__(self, model, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict[str, float]:
        t0 = time.perf_counter()
        score = ndcg_at_10(self.qrels, self.rerank(model))
        self.history.append({"step": int(steps), "epoch": float(epoch), DEV_METRIC_KEY: score, "seconds": round(time.perf_counter() - t0, 2)})
        log.info("dev nDCG@10 = %.4f (step %s, %d queries, top-%d)", score, steps, len(self.qrels), self.top_k)
        return {DEV_METRIC_KEY: score}

    def get_config_dict(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "queries": len(self.qrels)}
