"""Scoring heads for cross-encoders that start from a bi-encoder checkpoint.

Why this exists: offline, the only starting checkpoint is all-MiniLM-L6-v2, a mean-pooled
bi-encoder. A fresh linear head on [CLS] (or on the mean of all tokens) starts as noise,
and with a few hundred labeled queries it barely moves off the class prior. This head
starts where the bi-encoder is already good: it reads the *joint* encoding of
``[CLS] query [SEP] passage [SEP]`` (full cross-attention, so it is a real cross-encoder)
and scores ``scale * cos(mean(query tokens), mean(passage tokens)) + bias``. Before any
training it ranks about as well as the bi-encoder; fine-tuning then improves on that
instead of on random scores.

sentence-transformers has no module for this, so we add one. Saved models reference
``rerankft.heads.SegmentCosineScore`` in ``modules.json``; sentence-transformers 6 imports
classes outside its own namespace only with ``trust_remote_code=True``, which
:func:`needs_trust` tells our own loaders to pass for our own classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from sentence_transformers.base.modules import Module
from torch import nn


class SegmentCosineScore(Module):
    """Score = scale * cosine(mean query-segment states, mean passage-segment states) + bias."""

    config_keys = ["init_scale", "sep_token_id"]

    def __init__(self, init_scale: float = 20.0, sep_token_id: int | None = None):
        super().__init__()
        self.init_scale = float(init_scale)
        self.sep_token_id = sep_token_id
        self.scale = nn.Parameter(torch.tensor(self.init_scale))
        self.bias = nn.Parameter(torch.tensor(0.0))

    def segment_masks(self, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(query mask, passage mask), each (batch, seq). The query part includes [CLS] and the first [SEP]."""
        attention = features["attention_mask"].bool()
        token_types = features.get("token_type_ids")
        if token_types is not None and bool((token_types * attention).any()):
            second = token_types.bool()
        else:
            # Tokenizers without segment ids (RoBERTa, XLM-R): the passage starts after the first separator.
            if self.sep_token_id is None:
                raise ValueError("SegmentCosineScore needs token_type_ids or a sep_token_id")
            is_sep = features["input_ids"] == self.sep_token_id
            first_sep = torch.where(is_sep.any(1), is_sep.int().argmax(1), torch.full_like(is_sep[:, 0], is_sep.shape[1], dtype=torch.long))
            positions = torch.arange(is_sep.shape[1], device=is_sep.device).unsqueeze(0)
            second = positions > first_sep.unsqueeze(1)
        return attention & ~second, attention & second

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        states = features["token_embeddings"]
        query_mask, passage_mask = self.segment_masks(features)

        def mean(mask: torch.Tensor) -> torch.Tensor:
            m = mask.unsqueeze(-1).to(states.dtype)
            return (states * m).sum(1) / m.sum(1).clamp(min=1e-6)

        cosine = nn.functional.cosine_similarity(mean(query_mask), mean(passage_mask), dim=-1)
        features["scores"] = (self.scale * cosine + self.bias).unsqueeze(1)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", token=None, cache_folder=None, revision=None,
             local_files_only: bool = False, **kwargs):
        hub = dict(subfolder=subfolder, token=token, cache_folder=cache_folder, revision=revision,
                   local_files_only=local_files_only)
        model = cls(**cls.load_config(model_name_or_path=model_name_or_path, **hub))
        return cls.load_torch_weights(model_name_or_path=model_name_or_path, model=model, **hub)


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
    return bool(ours) and all(t.startswith("rerankft.") for t in ours)


def build_segment_cosine_cross_encoder(name: str, max_length: int | None):
    """A CrossEncoder = Transformer (feature extraction) -> SegmentCosineScore, scoring raw (unsquashed) values.

    BERT's pooler stays in, unused: a saved folder cannot say it was dropped, so a reloaded
    checkpoint would have it and no longer match the live model (best-model selection fails).
    """
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer

    # num_labels=1: CrossEncoder reads its label count from the transformer's config when the
    # last module is not one it knows, and BERT configs default to 2.
    body = Transformer(name, transformer_task="feature-extraction", max_seq_length=max_length,
                       config_kwargs={"num_labels": 1})
    model = CrossEncoder(modules=[body, SegmentCosineScore(sep_token_id=body.tokenizer.sep_token_id)])
    # The head's scale makes scores span ~[-20, 20]; a sigmoid on top would squash near-equal
    # top scores into float32 ties, so predict() returns the raw score (saved with the model).
    model.activation_fn = nn.Identity()
    return model
