"""Training on windows of long passages, so training reads the same kind of input that scoring does.

``train.long_docs``:

truncate     each passage cut at ``train.max_length`` (the tokenizer's truncation), as before
best_window  each passage longer than one window replaced by its best window, windows cut at
             ``train.max_length`` as ``rerank.window`` / ``rerank.stride`` say: MaxP's view of the passage
             (a positive's relevant part, a negative's most confusable part)
auto         best_window for passages longer than ``AUTO_MAXP_BEYOND`` windows, truncate for the rest: the
             same rule as ``rerank.long_docs=auto``, so training and scoring read a passage the same way

``train.window_picker`` says who rates the windows:

bm25   BM25 over the windows of the training passages (bm25s, the first stage's own scorer): seconds
model  the model at the start of training (at step 0 the gated body, about the bi-encoder's cosine),
       scoring every window as scoring will; exact, but a cross-encoder pass over every window:
       on 1,000-2,000-token documents about 30 windows per training pair, too slow for 2 CPU cores
"""

from __future__ import annotations

import logging

import numpy as np

from rerankft.scoring.reranker import Reranker
from rerankft.scoring.windows import Windowing, plan_windows, windowing_kwargs

log = logging.getLogger("rerankft")

TRAIN_LONG_DOCS = ("truncate", "best_window", "auto")
WINDOW_PICKERS = ("bm25", "model")

_NOT_PASSAGES = {"query", "label", "labels", "score", "scores"}


def rerank_windowing(cfg) -> Windowing:
    """The ``rerank:`` block's windowing (``truncate`` when the keys are absent)."""
    from rerankft.core.settings import select

    k = windowing_kwargs(select(cfg, "rerank", None) or {})
    return Windowing(k["long_docs"], k["window"], k["stride"])


def training_windows(cfg, rows, model):
    """``rows`` as ``train.long_docs`` asks: unchanged (truncate), or long passages replaced by their best
    window (windows cut at ``train.max_length`` as ``rerank.window`` / ``rerank.stride`` say). Returns (rows, stats or None)."""
    from rerankft.core.settings import select

    mode = select(cfg, "train.long_docs", "truncate") or "truncate"
    if mode == "truncate":
        return rows, None
    w = rerank_windowing(cfg)
    w = Windowing("auto" if mode == "auto" else "maxp", w.window, w.stride)
    picker = select(cfg, "train.window_picker", "bm25") or "bm25"
    return best_windows(rows, model, int(cfg.train.max_length), w, picker=picker, bm25_cfg=select(cfg, "retriever", None))


def best_windows(rows, model, max_length: int, windowing: Windowing, picker: str = "model", bm25_cfg=None):
    """``rows`` (a datasets.Dataset in any loss format) with every long passage replaced by its best window.

    Returns (rows, stats): stats counts the passages windowed and the windows they had.
    """
    text_cols = [c for c in rows.column_names if c not in _NOT_PASSAGES and not c.startswith("label")]
    pairs: list[tuple[str, str]] = []
    for row in rows:
        for c in text_cols:
            value = row[c]
            for p in value if isinstance(value, list) else [value]:
                if isinstance(p, str):
                    pairs.append((row["query"], p))
    pairs = list(dict.fromkeys(pairs))
    # windowing: maxp (every passage over one window) or auto (only those over AUTO_MAXP_BEYOND windows)
    plan = plan_windows(model.tokenizer, pairs, windowing, max_length)
    long_idx = [i for i in range(len(pairs)) if plan.first[i + 1] - plan.first[i] > 1]
    window_pairs = [plan.pairs[j] for i in long_idx for j in range(plan.first[i], plan.first[i + 1])]
    stats = {"passages": len(pairs), "windowed_passages": len(long_idx), "windows": len(window_pairs)}
    if not long_idx:
        return rows, stats
    log.info("train.long_docs=%s: %d of %d training passages read as windows of %d-token pairs; %s picks the best of their %d windows",
             windowing.mode, len(long_idx), len(pairs), max_length, picker, len(window_pairs))
    if picker == "bm25":
        scores = _bm25_scores(window_pairs, bm25_cfg)
    else:
        was_training = model.training
        reranker = Reranker(model, backend="torch", max_length=max_length, cache_dir=None)
        scores = reranker.score(window_pairs, desc="pick training windows").reshape(len(window_pairs), -1)[:, 0]
        model.train(was_training)
    stats["picker"] = picker
    best: dict[tuple[str, str], str] = {}
    k = 0
    for i in long_idx:
        n = int(plan.first[i + 1] - plan.first[i])
        j = int(np.argmax(scores[k : k + n]))
        best[pairs[i]] = window_pairs[k + j][1]
        k += n

    def swap(row):
        q = row["query"]
        for c in text_cols:
            value = row[c]
            if isinstance(value, list):
                row[c] = [best.get((q, p), p) if isinstance(p, str) else p for p in value]
            elif isinstance(value, str):
                row[c] = best.get((q, value), value)
        return row

    return rows.map(swap, desc=None), stats


def _bm25_scores(pairs: list[tuple[str, str]], bm25_cfg) -> np.ndarray:
    """BM25 score of each (query, window) pair, the windows of all pairs indexed as one corpus."""
    from rerankft.data.dataset import RetrievalDataset
    from rerankft.retrieval.bm25 import BM25Retriever

    queries = {q: f"q{i}" for i, q in enumerate(dict.fromkeys(q for q, _ in pairs))}
    windows = {w: f"w{i}" for i, w in enumerate(dict.fromkeys(w for _, w in pairs))}
    ds = RetrievalDataset("training windows", {d: {"title": "", "text": w} for w, d in windows.items()},
                          {qid: q for q, qid in queries.items()}, {})
    bm25_like = bm25_cfg if bm25_cfg is not None and str(bm25_cfg.get("kind", "")) == "bm25" else None  # its k1, b, ...
    return BM25Retriever(bm25_like, None).score_pairs(ds, [(queries[q], windows[w]) for q, w in pairs])
