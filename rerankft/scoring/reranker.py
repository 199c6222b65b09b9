"""The reranking engine: score (query, passage) pairs with a cross-encoder, fast and exactly.

``Reranker.score`` returns the same numbers as ``CrossEncoder.predict`` (default activation,
original order) but spends less time on padding:

* every pair is tokenized once, by the model's own ``preprocess`` (same truncation
  strategy, prompts and special tokens as ``predict``), only without padding;
* pairs are sorted by their real token length and cut into the batches of least estimated
  cost (padded tokens plus a small per-batch overhead, found exactly by a dynamic programme,
  see ``Reranker._batches``) within a *token budget* (pairs x padded length <=
  ``batch_tokens``) instead of a fixed pair count, so a batch ends where lengths drop;
* each batch is padded only to its own longest pair (``tokenizer.pad``) and run through
  the model's forward under ``torch.inference_mode()``; scores go back to input order.

``CrossEncoder.predict`` (sentence-transformers 6) sorts by *character* length with a fixed 32
pairs per batch: 1.28 tokens computed per real token on a mixed-length list of 100, these 1.04.

Optional: faster backends (ONNX / OpenVINO, int8) through sentence-transformers' own
export helpers (see :mod:`rerankft.scoring.backends`), fp16/bf16 autocast on GPU, and an on-disk
score cache (:mod:`rerankft.scoring.score_cache`) keyed by the model's fingerprint.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from rerankft.core.errors import ConfigError, DataError, ModelError
from rerankft.core.runs import Run, ranked_ids
from rerankft.core.runtime import raise_if_interrupted
from rerankft.modeling.names import resolve_model_name
from rerankft.scoring.batching import (  # noqa: F401
    BATCH_OVERHEAD_PAIRS,
    MAX_BATCH_PAIRS,
    cheapest_batches,
    check_pairs,
)
from rerankft.scoring.empty import demote_empty, demote_empty_in_run
from rerankft.scoring.fingerprint import model_fingerprint, module_fingerprint
from rerankft.scoring.fusion import fuse_signals, fusion_inputs
from rerankft.scoring.loading import (
    autocast,
    check_engine_settings,
    load_cross_encoder,
    resolve_precision,
    resolve_reranker_path,
)
from rerankft.scoring.score_cache import ScoreCache, scores_through_cache
from rerankft.scoring.tokens import (
    can_pad_ourselves,
    count_truncated,
    padded_batch,
    pair_lengths,
)
from rerankft.scoring.windows import Windowing, plan_windows, windowing_kwargs

if TYPE_CHECKING:  # torch / sentence-transformers load lazily: `import rerankft` stays light
    from sentence_transformers import CrossEncoder

    from rerankft.data.dataset import RetrievalDataset


log = logging.getLogger(__name__)


# The counters of Reranker.stats (summed over calls); its other entries are settings.
STAT_COUNTERS = ("pairs", "windowed_passages", "windows", "scored", "cache_hits", "batches", "truncated_pairs", "seconds")


class Reranker:
    """Score and rank (query, passage) pairs with a cross-encoder.

    Args:
        model: a local folder, a hub id, the packaged alias, or a loaded ``CrossEncoder``.
        backend: torch | onnx | onnx-int8 | openvino | openvino-bf16 | openvino-int8 (config ``rerank.backend``).
        max_length: tokens per pair (query + passage + special tokens); default the model's.
        batch_size: optional cap on pairs per batch (on top of the token budget).
        batch_tokens: token budget per batch: pairs x padded length.
        cache_dir: where the score cache and backend exports live; ``None``: no score cache.
        score_cache: set False to keep exports in ``cache_dir`` but always score (benchmarks).
        precision: fp32 | fp16 | bf16 (autocast; torch backend) | auto (bf16 where computed natively, else fp32).
        device: e.g. "cpu", "cuda"; default the model's / sentence-transformers' choice.
        long_docs: truncate (``predict``'s numbers) | firstp | maxp | sump | auto (the configs' default): how a
            passage longer than the pair's window is read (:mod:`rerankft.scoring.windows`); window/stride in tokens.
    """

    def __init__(
        self,
        model: "str | os.PathLike | CrossEncoder",
        backend: str = "torch",
        max_length: int | None = None,
        batch_size: int | None = None,
        batch_tokens: int = 16384,
        cache_dir: str | os.PathLike | None = None,
        precision: str = "fp32",
        device: str | None = None,
        allow_fresh_head: bool | None = None,
        show_progress: bool | None = None,
        score_cache: bool = True,
        long_docs: str = "truncate",
        window: int | None = None,
        stride: int | None = None,
    ):
        check_engine_settings(backend, precision, batch_tokens, batch_size, max_length)
        self.windowing = Windowing(long_docs, window, stride)

        from sentence_transformers import CrossEncoder

        if isinstance(model, CrossEncoder):
            if backend != model.get_backend() and not (backend.startswith(model.get_backend())):
                raise ConfigError(
                    f"rerank.backend={backend} but the CrossEncoder passed in runs on {model.get_backend()}; "
                    "pass the model path instead so rerankft can load/export it for that backend"
                )
            if device is not None:
                model.to(device)
            self.model = model
            self.name = str(getattr(model.model.config, "_name_or_path", "") or "in-memory model")
            self._fingerprint: str | None = None  # hashed lazily (only the cache needs it)
            self._hash_weights = True
        else:
            model = resolve_reranker_path(str(model))  # a train run directory means its model/ folder
            self.name = str(model)
            self.model = load_cross_encoder(
                str(model), max_length=max_length, backend=backend, device=device,
                cache_dir=cache_dir, allow_fresh_head=allow_fresh_head,
            )

            self._fingerprint = model_fingerprint(resolve_model_name(str(model)))
            self._hash_weights = False

        self.backend = backend
        self.precision = resolve_precision(precision, backend, self.model.device)  # auto: bf16 where native
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.show_progress = show_progress
        self.max_length = int(max_length or self.model.max_seq_length or 512)
        positions = getattr(getattr(self.model[0], "config", None), "max_position_embeddings", None)
        if max_length is not None and isinstance(positions, int) and max_length > positions:
            raise ConfigError(
                f"rerank.max_length={max_length} is longer than {self.name} can read ({positions} positions); "
                f"use at most {positions} or null for the model's own limit"
            )
        self.tokenizer = self.model.tokenizer
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._cache = None
        if self.cache_dir is not None and score_cache:
            self._cache = ScoreCache(self.cache_dir / "scores.sqlite")
        self._fast_path = can_pad_ourselves(self.model)
        self.stats: dict[str, Any] = {}
        self.reset_stats()

    @classmethod
    def from_config(cls, cfg_rerank, cache_dir=None, *, model, **kwargs) -> "Reranker":
        """The engine as the ``rerank:`` config block describes it (configs/rerank/default.yaml).

        ``model`` may be a model folder, a hub id or a train run directory (its ``model/``);
        ``cache_dir`` holds exports and, with ``rerank.cache``, the score cache.
        """
        return cls(
            resolve_reranker_path(str(model)),
            backend=cfg_rerank.backend,
            max_length=cfg_rerank.max_length,
            batch_tokens=int(cfg_rerank.batch_tokens),
            cache_dir=cache_dir,
            score_cache=bool(cfg_rerank.cache),
            precision=cfg_rerank.precision,
            **windowing_kwargs(cfg_rerank),
            **kwargs,
        )

    # ------------------------------------------------------------------ public API

    def reset_stats(self) -> None:
        self.stats = {
            "pairs": 0,  # pairs asked for
            "windowed_passages": 0,  # pairs whose passage was split into windows (long_docs != truncate)
            "windows": 0,  # the windows those passages became
            "scored": 0,  # pairs run through the model (not from the cache, not duplicates)
            "cache_hits": 0,
            "batches": 0,
            "truncated_pairs": 0,  # scored pairs longer than max_length (cut by the tokenizer)
            "seconds": 0.0,
            "pairs_per_s": 0.0,
            "backend": self.backend,
            "precision": self.precision,
            "device": str(self.model.device),
            "max_length": self.max_length,
            "long_docs": self.windowing.mode,
        }

    def score(self, pairs: Sequence[tuple[str, str]], desc: str | None = None) -> np.ndarray:
        """Scores for (query, passage) pairs, in input order: ``CrossEncoder.predict``'s values.

        Single-label models give a 1-D float32 array (after the model's activation, sigmoid
        by default), multi-label models a 2-D array, as ``predict`` does.
        """
        pairs = check_pairs(pairs)
        t0 = time.perf_counter()
        n = len(pairs)
        if self.windowing.active and pairs:
            plan = plan_windows(self.tokenizer, pairs, self.windowing, self.max_length)
            arr = plan.aggregate(self._score_pairs(plan.pairs, desc), self.windowing.mode)
            self.stats["windowed_passages"] += plan.windowed
            self.stats["windows"] += plan.windows_of_windowed
        else:
            arr = self._score_pairs(pairs, desc)
        self.stats["pairs"] += n
        self.stats["seconds"] += time.perf_counter() - t0
        self.stats["pairs_per_s"] = self.stats["pairs"] / self.stats["seconds"] if self.stats["seconds"] else 0.0
        if n == 0:
            return np.zeros((0,), dtype=np.float32)
        return arr[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr

    def _score_pairs(self, pairs: list[tuple[str, str]], desc: str | None) -> np.ndarray:
        """Scores (n x labels) of pairs as they are: duplicates once, the score cache, then the model."""
        namespace = self._cache_namespace() if self._cache is not None else ""
        return scores_through_cache(pairs, self._cache, namespace, lambda todo: self._score_uncached(todo, desc=desc), self.stats)

    def rank(
        self,
        query: str,
        documents: Sequence[str],
        top_k: int | None = None,
        first_stage_scores: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
        fusion_weight: float | Mapping[str, float] = 0.0,
    ) -> list[dict]:
        """Documents sorted by score, best first: ``[{"corpus_id": i, "score": s, "text": doc}, ...]``.

        Same shape as ``CrossEncoder.rank(..., return_documents=True)``. Ties (e.g. duplicate
        documents) keep their input order. ``top_k=None`` returns all.

        ``first_stage_scores`` (one per document, e.g. your retriever's BM25 scores) with
        ``fusion_weight`` w > 0 rank by ``(1 - w) * z(reranker) + w * z(first stage)``: the
        ``tuned+fusion`` system of the benchmark. With several signals, pass dicts:
        ``first_stage_scores={"bm25": [...], "dense": [...]}`` and the weights a train run's
        fusion.json holds for your candidates, e.g. ``fusion_weight={"bm25": 0.1, "dense": 0.3}``.
        """
        if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
            raise ValueError(f"top_k must be a non-negative integer or None, got {top_k!r}")
        if self.model.num_labels != 1:
            raise ModelError(f"rank() needs a single-score model; {self.name} has {self.model.num_labels} labels")
        if isinstance(documents, (str, bytes)):
            raise TypeError("documents must be a list of passages, got one string (wrap it in a list)")
        documents = list(documents)
        signals, weights = fusion_inputs(first_stage_scores, fusion_weight, len(documents))
        if not documents:
            return []
        scores = demote_empty(documents, self.score([(query, d) for d in documents]))
        if any(weights.values()):
            ids = [str(i) for i in range(len(documents))]
            runs = {n: {"q": dict(zip(ids, map(float, v)))} for n, v in signals.items()}
            fused = fuse_signals({"q": dict(zip(ids, map(float, scores)))}, runs, weights)["q"]
            scores = np.array([fused[i] for i in ids])
        order = np.argsort(-scores, kind="stable")
        if top_k is not None:
            order = order[:top_k]
        return [{"corpus_id": int(i), "score": float(scores[i]), "text": documents[i]} for i in order]

    def rerank_run(
        self,
        dataset: "RetrievalDataset",
        run: Run,
        top_k: int,
        query_ids: Iterable[str] | None = None,
        desc: str | None = None,
    ) -> Run:
        """Rerank each query's first-stage top ``top_k`` (by first-stage score); returns the reranked run.

        All queries' pairs go through one ``score`` call, so length sorting and batching work
        across queries, not just within one candidate list.
        """
        if not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"rerank.top_k must be a positive integer, got {top_k!r}")
        qids = list(run) if query_ids is None else [str(q) for q in query_ids]
        pairs: list[tuple[str, str]] = []
        owners: list[tuple[str, str]] = []
        for qid in qids:
            if qid not in dataset.queries:
                raise DataError(f"run has query id '{qid}' that is not in data set '{dataset.name}'")
            for doc_id in ranked_ids(run.get(qid, {}))[:top_k]:
                if doc_id not in dataset.corpus:
                    raise DataError(f"run ranks document '{doc_id}' for query '{qid}' that is not in data set '{dataset.name}'")
                pairs.append((dataset.queries[qid], dataset.doc_text(doc_id)))
                owners.append((qid, doc_id))
        scores = self.score(pairs, desc=desc or f"rerank {self.name}")
        if scores.ndim != 1:
            raise ModelError(f"reranking needs a single-score model; {self.name} has {self.model.num_labels} labels")
        out: Run = {qid: {} for qid in qids}
        for (qid, doc_id), s in zip(owners, scores):
            out[qid][doc_id] = float(s)
        return demote_empty_in_run(out, owners, [text for _, text in pairs])

    @contextmanager
    def uncached(self):
        """Score without the score cache and progress bars inside the block (per-query latency)."""
        cache, progress = self._cache, self.show_progress
        self._cache, self.show_progress = None, False
        try:
            yield self
        finally:
            self._cache, self.show_progress = cache, progress

    def close(self) -> None:
        """Close the score cache file (also done when the engine is garbage-collected)."""
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def __enter__(self) -> "Reranker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict:
        """What a report should say about this reranker."""
        return {
            "model": self.name,
            "backend": self.backend,
            "precision": self.precision,
            "max_length": self.max_length,
            "batch_tokens": self.batch_tokens,
            "batch_size": self.batch_size,
            "device": str(self.model.device),
            **self.windowing.describe(),
        }

    # ------------------------------------------------------------------ internals

    def fingerprint(self) -> str:
        if self._fingerprint is None or self._hash_weights:
            self._fingerprint = module_fingerprint(self.model)
        return self._fingerprint

    def _cache_namespace(self) -> str:
        # Entries are scores of the pairs the model really read: whole passages, or windows (a window's
        # text is its key), so the long_docs mode needs no place in the key: truncate's long pair and
        # maxp's windows are different pairs, and a passage that fits one window is the same pair in both.
        return f"{self.fingerprint()}|{self.backend}|{self.precision}|{self.max_length}"

    def _batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Index arrays of the pairs in each batch, longest first (see :func:`cheapest_batches`)."""
        cap = MAX_BATCH_PAIRS if self.batch_size is None else min(MAX_BATCH_PAIRS, self.batch_size)
        return cheapest_batches(lengths, self.batch_tokens, cap)

    def _score_uncached(self, pairs: list[tuple[str, str]], desc: str | None = None) -> np.ndarray:
        import torch
        from sentence_transformers.util import batch_to_device
        from tqdm.auto import tqdm

        model = self.model
        model.eval()
        feats, lengths = pair_lengths(model, pairs, self.max_length, self._fast_path)
        self.stats["truncated_pairs"] += count_truncated(self.tokenizer, pairs, self.max_length, lengths)

        results: list[np.ndarray | None] = [None] * len(pairs)
        show = self.show_progress if self.show_progress is not None else (desc is not None and len(pairs) > 1000)
        bar = tqdm(total=len(pairs), desc=desc or "rerank", unit="pair", disable=not show, leave=False)
        activation = model.activation_fn
        with torch.inference_mode(), autocast(self.precision, model.device):
            for idx in self._batches(lengths):
                raise_if_interrupted()  # a Ctrl-C swallowed by some __del__ still stops scoring here
                batch = batch_to_device(padded_batch(model, pairs, idx, feats, self.max_length), model.device)
                scores = model(batch)["scores"]
                # The same post-processing as CrossEncoder._inference: upcast, activation, squeeze.
                if torch.is_floating_point(scores) and torch.finfo(scores.dtype).bits < 32:
                    scores = scores.float()
                if activation is not None:
                    scores = activation(scores)
                scores = scores.float().cpu().numpy().reshape(len(idx), -1)
                for j, i in enumerate(idx):
                    results[i] = scores[j]
                self.stats["batches"] += 1
                bar.update(len(idx))
        bar.close()
        self.stats["scored"] += len(pairs)
        return np.stack(results) if results else np.zeros((0, 1), dtype=np.float32)
