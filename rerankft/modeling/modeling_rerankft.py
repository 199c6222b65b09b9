"""The segment_cosine scoring head, self-contained: this file is copied into every saved model folder.

A cross-encoder trained from a bi-encoder checkpoint scores a pair as the cosine of its mean
query-token and mean passage-token states *inside the joint encoding* (scaled, plus a bias),
so it starts out ranking like the bi-encoder it came from and learns from few labels.

This file imports only torch, transformers and sentence-transformers, so a saved model folder
(or its Hub upload) loads where rerankft is not installed, through each stack's standard
remote-code mechanism (``trust_remote_code=True``):

* ``SegmentCosineScore``: the sentence-transformers module (``modules.json`` names it as
  ``modeling_rerankft.SegmentCosineScore``), for ``CrossEncoder`` and everything built on it
  (LangChain's ``HuggingFaceCrossEncoder``, LlamaIndex's ``SentenceTransformerRerank``);
* ``BertSegmentCosineForSequenceClassification``: the same score as a transformers
  ``AutoModelForSequenceClassification`` (``config.json``'s ``auto_map``), whose ``logits`` are
  the score, for stacks that load plain transformers models (the ``rerankers`` library).
  Its scale and bias are read from ``config.json`` (two numbers the save writes there).
"""

from __future__ import annotations

import torch
from sentence_transformers.base.modules import Module, Transformer
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


def segment_masks(input_ids, attention_mask, token_type_ids, sep_token_id):
    """(query mask, passage mask), each (batch, seq). The query part includes [CLS] and the first [SEP].

    Rows with segment ids use them; rows without (RoBERTa, XLM-R give none, or all zeros) split
    after the first separator. Chosen per row with tensor ops, no Python branch on the data, so
    the gated body's ONNX export can trace it.
    """
    attention = attention_mask.bool()
    by_sep = None
    if sep_token_id is not None and input_ids is not None:
        is_sep = input_ids == sep_token_id
        none = torch.full_like(is_sep[:, 0], is_sep.shape[1], dtype=torch.long)
        first_sep = torch.where(is_sep.any(1), is_sep.int().argmax(1), none)
        positions = torch.arange(is_sep.shape[1], device=is_sep.device).unsqueeze(0)
        by_sep = positions > first_sep.unsqueeze(1)
    if token_type_ids is None:
        if by_sep is None:
            raise ValueError("the segment_cosine head needs token_type_ids or a sep_token_id")
        second = by_sep
    elif by_sep is None:
        second = token_type_ids.bool()
    else:
        has_types = (token_type_ids * attention_mask).bool().any(1, keepdim=True)
        second = (has_types & token_type_ids.bool()) | (~has_types & by_sep)  # no Where on bools: ONNX Runtime lacks it
    return attention & ~second, attention & second


def segment_cosine(states, query_mask, passage_mask):
    def mean(mask):
        m = mask.unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp(min=1e-6)

    return nn.functional.cosine_similarity(mean(query_mask), mean(passage_mask), dim=-1)


def gated_inputs(input_ids, attention_mask, token_type_ids, sep_token_id, gate, dtype=torch.float32):
    """Encoder inputs under which the joint encoding starts as two separate encodings.

    Attention between the query segment and the passage segment gets the additive bias ``gate``
    (a scalar tensor; 0 within a segment, the dtype's minimum on padding), the passage's
    positions restart at 0 and every token type is 0: with a very negative gate each segment is
    encoded exactly as the bi-encoder encodes it alone, so the segment cosine *is* the
    bi-encoder's score. A learnable gate lets training open the cross-attention from there.
    Returns ``attention_mask`` (batch, 1, seq, seq), ``position_ids`` and ``token_type_ids``.
    """
    query, passage = segment_masks(input_ids, attention_mask, token_type_ids, sep_token_id)
    same = (query.unsqueeze(2) & query.unsqueeze(1)) | (passage.unsqueeze(2) & passage.unsqueeze(1))
    mask = torch.where(same, torch.zeros((), dtype=dtype, device=same.device), gate.to(dtype))
    keys = attention_mask.bool().unsqueeze(1)
    mask = torch.where(keys, mask, torch.full((), torch.finfo(dtype).min, dtype=dtype, device=same.device))
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0).expand_as(input_ids)
    positions = torch.where(passage, positions - query.sum(1, keepdim=True), positions).clamp(min=0)
    return {"attention_mask": mask.unsqueeze(1), "position_ids": positions, "token_type_ids": torch.zeros_like(input_ids)}


def with_passage_cls(input_ids, attention_mask, token_type_ids, sep_token_id, cls_token_id):
    """The pair's tensors with a [CLS] inserted right after the first [SEP]: the passage's own [CLS].

    A bi-encoder encodes ``[CLS] passage [SEP]``; the joint input ``[CLS] query [SEP] passage [SEP]``
    gives the passage segment no [CLS] of its own, so even with cross-attention shut its states
    (and the segment cosine) differ from the bi-encoder's. With this token (segment 1, position 0
    once positions restart) a shut gate scores exactly as the bi-encoder does. Tensor ops only
    (gather / where), one column more per row; rows without a [SEP] get a padding column.
    """
    batch, length = input_ids.shape
    is_sep = input_ids == sep_token_id
    has_sep = is_sep.any(1, keepdim=True)
    first_sep = torch.where(has_sep, is_sep.int().argmax(1, keepdim=True), torch.full_like(has_sep, length, dtype=torch.long))
    cols = torch.arange(length + 1, device=input_ids.device).unsqueeze(0).expand(batch, -1)
    src = torch.where(cols <= first_sep, cols, cols - 1).clamp(max=length - 1)
    inserted = cols == first_sep + 1
    ids = torch.where(inserted, torch.full_like(cols, cls_token_id), torch.gather(input_ids, 1, src))
    # the last column repeats the last token for rows without a [SEP]: masked out
    tail = (cols == length) & ~has_sep
    mask = torch.where(inserted, torch.ones_like(cols), torch.gather(attention_mask.long(), 1, src))
    mask = torch.where(tail, torch.zeros_like(mask), mask).to(attention_mask.dtype)
    out = {"input_ids": ids, "attention_mask": mask}
    if token_type_ids is not None:
        out["token_type_ids"] = torch.where(inserted, torch.ones_like(cols), torch.gather(token_type_ids.long(), 1, src)).to(token_type_ids.dtype)
    return out


def passage_cls_ids(config) -> tuple[int, int] | None:
    """(the [CLS] id to insert, the [SEP] id it follows) for a model.passage_cls folder, else None:
    a folder saved before these keys existed has no passage [CLS] and keeps scoring as it was trained."""
    cls_id = getattr(config, "segment_passage_cls", None)
    return None if cls_id is None else (int(cls_id), int(config.segment_sep_token_id))


class SegmentGatedTransformer(Transformer):
    """A sentence-transformers Transformer whose cross-segment attention passes a learnable gate.

    The gate's value lives in the encoder's ``config.json`` (``segment_gate``), so a saved folder
    and the transformers class below read the trained value back without extra files.
    Inputs are never unpadded (a 4-D mask needs the padded layout).
    """

    def __init__(self, *args, segment_gate: float | None = None, passage_cls: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.unpad_inputs = False
        if segment_gate is not None:
            # A new gate's start is set on the loaded config here, not passed in config_kwargs:
            # transformers 5 drops config kwargs that the config class does not declare, so the
            # start would silently fall back to -4. A saved folder (segment_gate=None) reads its
            # config.json, which does carry the key.
            self.model.config.segment_gate = float(segment_gate)
        self.segment_gate = nn.Parameter(torch.tensor(float(getattr(self.model.config, "segment_gate", -4.0))))
        if passage_cls:  # model.passage_cls: the token ids go to config.json, where every loader reads them
            self.model.config.segment_passage_cls = int(self.tokenizer.cls_token_id)
            self.model.config.segment_sep_token_id = int(self.tokenizer.sep_token_id)
        self.passage_ids = passage_cls_ids(self.model.config)

    def passage_inputs(self, input_ids, attention_mask, token_type_ids) -> dict[str, torch.Tensor]:
        """The tokenizer's tensors widened by the passage's [CLS] (a model.passage_cls body only)."""
        cls_id, sep_id = self.passage_ids
        return with_passage_cls(input_ids, attention_mask, token_type_ids, sep_id, cls_id)

    def body_inputs(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return gated_inputs(features["input_ids"], features["attention_mask"], features.get("token_type_ids"),
                            self.tokenizer.sep_token_id, self.segment_gate, self.model.dtype)

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        if getattr(self, "gate_in_graph", False):  # an exported graph that gates by itself (rerankft's ONNX backend)
            return super().forward(features, **kwargs)
        if self.passage_ids is not None and features.get("input_ids") is not None:  # the head reads the same widened tensors
            features.update(self.passage_inputs(features["input_ids"], features["attention_mask"], features.get("token_type_ids")))
        # kwargs override features for the encoder only: the head still reads the 2-D attention_mask
        return super().forward(features, **{**self.body_inputs(features), **kwargs})

    def save(self, output_path: str, *args, **kwargs) -> None:
        self.model.config.segment_gate = float(self.segment_gate.detach().float().item())
        super().save(output_path, *args, **kwargs)


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
        return segment_masks(features.get("input_ids"), features["attention_mask"], features.get("token_type_ids"),
                             self.sep_token_id)

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        query_mask, passage_mask = self.segment_masks(features)
        cosine = segment_cosine(features["token_embeddings"], query_mask, passage_mask)
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


class BertSegmentCosineForSequenceClassification(BertPreTrainedModel):
    """The segment_cosine score as a transformers sequence-classification model (one logit = the score)."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = 1
        self.bert = BertModel(config)  # with its (unused) pooler: the saved weights include it
        # Plain numbers, not parameters: this class is for inference, and new parameters would be
        # initialised by transformers instead of read from the saved model.
        self.segment_cosine_scale = float(getattr(config, "segment_cosine_scale", 20.0))
        self.segment_cosine_bias = float(getattr(config, "segment_cosine_bias", 0.0))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, return_dict=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        sep = getattr(self.config, "sep_token_id", None)
        ids = passage_cls_ids(self.config)
        if ids is not None:
            wide = with_passage_cls(input_ids, attention_mask, token_type_ids, ids[1], ids[0])
            input_ids, attention_mask, token_type_ids = wide["input_ids"], wide["attention_mask"], wide.get("token_type_ids")
        inputs = {"attention_mask": attention_mask, "token_type_ids": token_type_ids}
        gate = getattr(self.config, "segment_gate", None)
        if gate is not None:
            inputs = gated_inputs(input_ids, attention_mask, token_type_ids, sep, torch.tensor(float(gate)), self.dtype)
        out = self.bert(input_ids=input_ids, **inputs)
        query_mask, passage_mask = segment_masks(input_ids, attention_mask, token_type_ids, sep)
        cosine = segment_cosine(out.last_hidden_state, query_mask, passage_mask)
        logits = (self.segment_cosine_scale * cosine + self.segment_cosine_bias).unsqueeze(1)
        return SequenceClassifierOutput(logits=logits)
