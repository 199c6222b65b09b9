"""Tokenizing (query, passage) pairs exactly as ``CrossEncoder.predict`` does, once, without padding.

The engine pads each batch itself (to the batch's longest pair); this module holds the rules that
make that exact, and the one count of pairs cut by ``max_length`` (training and scoring share it).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def can_pad_ourselves(model) -> bool:
    """Pre-tokenize + ``tokenizer.pad`` is exact for plain text encoders with a tokenizer.

    Both transformer tasks qualify: a sequence-classification body and a feature-extraction body
    under a score head (the segment_cosine models) tokenize pairs the same way in ``preprocess``;
    the fallback would tokenize every pair twice (once for lengths, once per batch).

    Anything else (causal-LM scorers with chat templates, flash-attention unpadding,
    multimodal processors) goes through the model's ``preprocess`` batch by batch, still
    length-sorted and token-budgeted.
    """
    from sentence_transformers.base.modules import Transformer
    from transformers import PreTrainedTokenizerBase

    first = model[0]
    return (
        isinstance(first, Transformer)
        and getattr(first, "transformer_task", None) in ("sequence-classification", "feature-extraction")
        and not getattr(first, "can_flatten_inputs", False)
        and isinstance(model.tokenizer, PreTrainedTokenizerBase)
        and "message" not in getattr(first, "modality_config", {})
    )


def processing_kwargs(max_length: int, pad: bool) -> dict:
    """``preprocess`` arguments: predict's truncation (``longest_first``), with or without padding."""
    text = {"max_length": max_length, "truncation": "longest_first"}
    if not pad:
        text["padding"] = False
        return {"text": text, "common": {"return_tensors": None}}
    return {"text": text}


def tokenize(model, pairs: list[tuple[str, str]], max_length: int) -> dict[str, list]:
    """Token ids (and masks) of every pair, unpadded, through the model's own ``preprocess``."""
    feats = model.preprocess(pairs, processing_kwargs=processing_kwargs(max_length, pad=False))
    return {k: v for k, v in feats.items() if isinstance(v, list)}


def pair_lengths(model, pairs: list[tuple[str, str]], max_length: int, fast_path: bool) -> tuple[dict | None, np.ndarray]:
    """(unpadded features or None, each pair's token length after truncation).

    On the fast path the features are kept, so each batch is only padded (:func:`padded_batch`);
    otherwise only the lengths are needed here and ``preprocess`` tokenizes batch by batch.
    """
    if fast_path:
        feats = tokenize(model, pairs, max_length)
        ids = feats["input_ids"]
    else:
        feats = None
        ids = model.tokenizer([q for q, _ in pairs], [p for _, p in pairs], truncation="longest_first", max_length=max_length)["input_ids"]
    return feats, np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(pairs))


def padded_batch(model, pairs: list[tuple[str, str]], idx: np.ndarray, feats: dict | None, max_length: int) -> dict:
    """The model's input for the pairs ``idx``, padded to their longest: from ``feats`` (fast path) or ``preprocess``."""
    if feats is None:
        return model.preprocess([pairs[i] for i in idx], processing_kwargs=processing_kwargs(max_length, pad=True))
    batch = dict(model.tokenizer.pad({k: [v[i] for i in idx] for k, v in feats.items()}, return_tensors="pt"))
    batch["modality"] = "text"
    return batch


def count_truncated(tokenizer, pairs: Sequence[tuple[str, str]], max_length: int, lengths: np.ndarray | None = None) -> int:
    """How many pairs are longer than ``max_length`` tokens (special tokens included), i.e. get cut.

    ``lengths`` (the truncated lengths, when already known) limits the re-count to pairs that hit
    the cap exactly: only those can have been cut.
    """
    idx = range(len(pairs)) if lengths is None else np.flatnonzero(lengths >= max_length)
    at_cap = [pairs[i] for i in idx]
    n = 0
    for i in range(0, len(at_cap), 1024):
        chunk = at_cap[i : i + 1024]
        full = tokenizer([q for q, _ in chunk], [p for _, p in chunk], truncation=False, verbose=False)["input_ids"]
        n += int(sum(len(ids) > max_length for ids in full))
    return n
