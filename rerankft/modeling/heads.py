"""Scoring heads for cross-encoders that start from a bi-encoder checkpoint.

Why this exists: offline, the only starting checkpoint is all-MiniLM-L6-v2, a mean-pooled
bi-encoder. A fresh linear head on [CLS] (or on the mean of all tokens) starts as noise,
and with a few hundred labeled queries it barely moves off the class prior. This head
starts where the bi-encoder is already good: it reads the *joint* encoding of
``[CLS] query [SEP] passage [SEP]`` (full cross-attention, so it is a real cross-encoder)
and scores ``scale * cos(mean(query tokens), mean(passage tokens)) + bias``. Before any
training it ranks about as well as the bi-encoder; fine-tuning then improves on that
instead of on random scores.

sentence-transformers has no module for this, so we add one, in a file that imports nothing of
rerankft (:mod:`rerankft.modeling.modeling_rerankft`). :func:`make_portable` copies that file into a saved
model folder and points ``modules.json`` (and ``config.json``'s ``auto_map``) at it, so the folder
loads with ``trust_remote_code=True`` where rerankft is not installed. Models saved by earlier
versions name ``rerankft.heads.SegmentCosineScore`` (the package was flat then): the two
``sys.modules`` aliases below keep them loading through rerankft's loaders.
sentence-transformers 6 imports classes outside its own namespace only with
``trust_remote_code=True``; :func:`needs_trust` tells our own loaders to pass it for these.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from torch import nn

from rerankft.core.io import write_text
from rerankft.modeling import modeling_rerankft
from rerankft.modeling.modeling_rerankft import SegmentCosineScore, SegmentGatedTransformer

# Old (flat-layout) model folders name these modules in modules.json; an alias, not a shim file,
# so the package tree keeps one home for the head.
sys.modules.setdefault("rerankft.heads", modeling_rerankft)
sys.modules.setdefault("rerankft.modeling_rerankft", modeling_rerankft)

__all__ = ["SegmentCosineScore", "SegmentGatedTransformer", "build_segment_cosine_cross_encoder", "make_portable", "needs_trust"]


MODELING_FILE = Path(__file__).with_name("modeling_rerankft.py")


PORTABLE_TYPES = {"SegmentCosineScore": "modeling_rerankft.SegmentCosineScore",
                  "SegmentGatedTransformer": "modeling_rerankft.SegmentGatedTransformer"}


def needs_trust(model_dir: str | Path) -> bool:
    """True when a saved model uses rerankft's own modules (and only those besides sentence-transformers')."""
    modules = Path(model_dir) / "modules.json"
    if not modules.is_file():
        return False
    try:
        types = [m.get("type", "") for m in json.loads(modules.read_text())]
    except (OSError, ValueError):
        return False
    ours = [t for t in types if not t.startswith("sentence_transformers.")]
    return bool(ours) and all(t.startswith(("rerankft.", "modeling_rerankft.")) for t in ours)


def make_portable(model_dir: str | Path, model) -> bool:
    """Make a saved segment_cosine model folder load without rerankft (returns False for other heads).

    * copies ``modeling_rerankft.py`` in and names its class in ``modules.json``, the
      sentence-transformers way of shipping a custom module with a model;
    * for BERT bodies, adds ``auto_map`` -> ``BertSegmentCosineForSequenceClassification`` and the
      trained scale and bias to ``config.json``, so ``AutoModelForSequenceClassification``
      (``trust_remote_code=True``) computes the same score as its ``logits``.
    """
    model_dir = Path(model_dir)
    head = model[len(model) - 1]
    if type(head).__name__ != "SegmentCosineScore":
        return False
    shutil.copyfile(MODELING_FILE, model_dir / MODELING_FILE.name)
    modules_file = model_dir / "modules.json"
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    for m in modules:
        cls_name = m.get("type", "").rsplit(".", 1)[-1]
        if cls_name in PORTABLE_TYPES:
            m["type"] = PORTABLE_TYPES[cls_name]
    write_text(modules_file, json.dumps(modules, indent=2))
    cfg_file = model_dir / "config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    if cfg.get("model_type") == "bert":
        cfg["auto_map"] = {"AutoModelForSequenceClassification": "modeling_rerankft.BertSegmentCosineForSequenceClassification"}
        cfg["segment_cosine_scale"] = float(head.scale.detach().float().item())
        cfg["segment_cosine_bias"] = float(head.bias.detach().float().item())
        cfg["num_labels"] = 1
        write_text(cfg_file, json.dumps(cfg, indent=2, sort_keys=True))
    return True


def build_segment_cosine_cross_encoder(name: str, max_length: int | None, segment_gate: float | None = None,
                                       passage_cls: bool = False):
    """A CrossEncoder = Transformer (feature extraction) -> SegmentCosineScore, scoring raw (unsquashed) values.

    ``segment_gate``: None = full cross-attention from the first step; a number = the starting
    additive bias on attention between query and passage tokens (a learnable
    :class:`SegmentGatedTransformer`), with the passage's positions restarted, so the model
    starts out scoring like the bi-encoder alone and training opens the cross-attention.

    BERT's pooler stays in, unused: a saved folder cannot say it was dropped, so a reloaded
    checkpoint would have it and no longer match the live model (best-model selection fails).
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer

    # num_labels=1: CrossEncoder reads its label count from the transformer's config when the
    # last module is not one it knows, and BERT configs default to 2.
    config = {"num_labels": 1}
    if segment_gate is None:
        body = Transformer(name, transformer_task="feature-extraction", max_seq_length=max_length, config_kwargs=config)
    else:
        body = SegmentGatedTransformer(name, transformer_task="feature-extraction", max_seq_length=max_length,
                                       config_kwargs=config, segment_gate=float(segment_gate), passage_cls=passage_cls)
    model = CrossEncoder(modules=[body, SegmentCosineScore(sep_token_id=body.tokenizer.sep_token_id)])
    # The head's scale makes scores span ~[-20, 20]; a sigmoid on top would squash near-equal
    # top scores into float32 ties, so predict() returns the raw score (saved with the model).
    model.activation_fn = nn.Identity()
    return model
