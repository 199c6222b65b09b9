"""Build the cross-encoder to fine-tune: which head (cls, mean, segment_cosine; auto picks) on which checkpoint.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from rerankft.core.errors import ConfigError, ModelError
from rerankft.modeling.names import resolve_model_name

log = logging.getLogger("rerankft")


HEADS = ("auto", "cls", "mean", "segment_cosine")


def build_cross_encoder(cfg_model: DictConfig, max_length: int | None):
    """The model to fine-tune, with a one-logit scoring head.

    ``model.head``:
      * ``cls`` (default): the checkpoint as a sequence-classification model. A trained
        cross-encoder keeps its head; a bi-encoder / plain encoder gets a fresh
        classifier on the [CLS] pooler output.
      * ``segment_cosine``: the joint encoding scored as the cosine of the mean query-token
        and mean passage-token states (``rerankft.modeling.heads``). It starts out ranking like the
        bi-encoder it came from, so few labels go a long way: the offline default.
      * ``mean``: Transformer (feature extraction) -> mean pooling -> Dense(hidden, 1)
        named ``scores``. Mean pooling is what a sentence-embedding checkpoint such as
        all-MiniLM was trained for, so the fresh head starts from a meaningful vector.
        Both new heads leave BERT's pooler unused. It stays in the model anyway: a saved
        folder does not record that it was dropped, so reloading a checkpoint (best-model
        selection, resume) would bring it back and fail to match; DDP is told instead
        (``ddp_find_unused_parameters``).
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    name = resolve_model_name(cfg_model.name)
    head = resolve_head(cfg_model.head, name)
    try:
        if head == "cls":
            model = CrossEncoder(name, num_labels=1, max_length=max_length)
        elif head == "segment_cosine":
            from rerankft.modeling.heads import build_segment_cosine_cross_encoder

            model = build_segment_cosine_cross_encoder(name, max_length, cfg_model.get("segment_gate"),
                                                      passage_cls=passage_cls_setting(cfg_model))
        else:
            body = Transformer(name, transformer_task="feature-extraction", max_seq_length=max_length)
            dim = body.get_word_embedding_dimension()
            pooling = Pooling(dim, pooling_mode="mean")
            scorer = Dense(dim, 1, activation_function=None, module_output_name="scores")
            model = CrossEncoder(modules=[body, pooling, scorer])
    except (OSError, ValueError) as e:
        raise ModelError(f"model.name={cfg_model.name!r} could not be loaded as a cross-encoder ({e})") from None
    if model.num_labels != 1:
        raise ModelError(f"model.name={cfg_model.name!r} has {model.num_labels} output labels; a reranker needs exactly 1")
    return model


def resolve_head(head: str, name: str) -> str:
    """``auto``: keep the trained head of a cross-encoder (cls), else segment_cosine."""
    if head not in HEADS:
        raise ConfigError(f"model.head={head!r} is unknown: use one of {', '.join(HEADS)}")
    if head != "auto":
        return head
    from transformers import AutoConfig

    try:
        archs = AutoConfig.from_pretrained(name).architectures or []
    except Exception as e:  # noqa: BLE001 - unreachable hub id, broken folder
        raise ModelError(f"model.name={name!r} could not be read ({e})") from None
    return "cls" if any(a.endswith("ForSequenceClassification") for a in archs) else "segment_cosine"


def passage_cls_setting(cfg_model) -> bool:
    """``model.passage_cls``: true or false, and only with a gated body (the [CLS] is inserted by it)."""
    value = cfg_model.get("passage_cls", False)
    if not isinstance(value, bool):
        raise ConfigError(f"model.passage_cls={value!r} is invalid: use true or false")
    if value and cfg_model.get("segment_gate") is None:
        raise ConfigError("model.passage_cls=true needs model.segment_gate (a number): the gated body inserts the passage's [CLS]")
    return value
