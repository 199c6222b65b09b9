"""Dev-set model selection: rerank the dev queries' first-stage top-k and score nDCG@10.

The trainer calls :class:`DevRerankEvaluator` at every evaluation step; it returns
``{"dev_ndcg@10": value}`` and declares it as ``primary_metric`` so that the trainer's
``metric_for_best_model`` / ``load_best_model_at_end`` keep the best checkpoint.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sentence_transformers.base.evaluation import BaseEvaluator

from rerankft.core.metrics import ndcg_at_10
from rerankft.core.runs import truncate_run
from rerankft.scoring.reranker import Reranker
from rerankft.scoring.windows import Windowing

log = logging.getLogger("rerankft")


DEV_METRIC_KEY = "dev_ndcg@10"


class DevRerankEvaluator(BaseEvaluator):
    """Rerank the dev queries' first-stage top-k with the model being trained; primary metric dev nDCG@10.

    ``history`` keeps one entry per call (step, epoch, score, seconds) for the run summary.
    """

    def __init__(self, dataset, dev_qrels, dev_run, top_k: int, batch_size: int = 64, max_length: int | None = None,
                 windowing: Windowing | None = None):
        super().__init__()
        self.windowing = windowing or Windowing()  # the benchmark's rerank.long_docs, so selection reads passages as scoring will
        self.dataset = dataset
        self.qrels = {qid: {d: int(g) for d, g in docs.items()} for qid, docs in dev_qrels.items()}
        self.run = truncate_run({q: dev_run.get(q, {}) for q in sorted(self.qrels)}, top_k)
        self.top_k = top_k
        self.batch_size = batch_size
        self.max_length = max_length
        self.primary_metric = DEV_METRIC_KEY
        self.greater_is_better = True
        self.history: list[dict[str, Any]] = []

    def rerank(self, model) -> dict[str, dict[str, float]]:
        # The benchmark's engine, so dev and test scores are computed the same way. No score cache: the model changes between evaluations.
        w = self.windowing
        reranker = Reranker(model, backend="torch", max_length=self.max_length, batch_size=self.batch_size, cache_dir=None,
                            long_docs=w.mode, window=w.window, stride=w.stride)
        return reranker.rerank_run(self.dataset, self.run, self.top_k, query_ids=sorted(self.qrels), desc="dev rerank")

    def __call__(self, model, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict[str, float]:
        t0 = time.perf_counter()
        score = ndcg_at_10(self.qrels, self.rerank(model))
        self.history.append({"step": int(steps), "epoch": float(epoch), DEV_METRIC_KEY: score, "seconds": round(time.perf_counter() - t0, 2)})
        log.info("dev nDCG@10 = %.4f (step %s, %d queries, top-%d)", score, steps, len(self.qrels), self.top_k)
        return {DEV_METRIC_KEY: score}

    def get_config_dict(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "queries": len(self.qrels)}
