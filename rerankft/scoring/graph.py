"""The graph every exported backend runs, and how it is plugged into a CrossEncoder.

:func:`score_graph` is the model as one module, the tokenizer's three tensors in and ``[batch, 1]``
raw scores out (encoder, then the head modules), which the ONNX export traces; the ONNX Runtime and
OpenVINO runners then take the place of the transformers model *and* the head (:func:`swap_encoder`),
so the CrossEncoder's tokenization, activation and ``predict``/``rank`` stay sentence-transformers'.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np


def output_name(model) -> str:
    """What the encoder returns to the CrossEncoder's first module: the logits of a
    sequence-classification model, or the token states of a feature-extraction body (whose head
    modules, such as segment_cosine, turn them into scores)."""
    return "logits" if getattr(model[0], "transformer_task", None) == "sequence-classification" else "last_hidden_state"


# The exported graph's one output: the model's raw scores, [batch, 1], encoder AND head modules.
# Exporting the head too (a few vector ops) keeps it off the torch side of the call: with the head
# in torch each batch copied its [batch, seq, hidden] token states out of the runtime and ran the
# head in fp32 torch, 16% of openvino-int8's wall time on Cranfield pairs (benchmarks/bench_rerank.py).
SCORES = "scores"


def score_graph(model, divisor: float = 1.0):
    """A module: the tokenizer's tensors -> ``[batch, 1]`` raw scores / ``divisor`` (encoder, then the head modules).

    What every export runs (``divisor`` is FlashRank's, rerankft.publish.flashrank)."""
    import torch

    encoder_output = output_name(model)

    class ScoreGraph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model.model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            if getattr(model[0], "passage_ids", None) is not None:  # model.passage_cls: the passage's own [CLS], inside the graph
                wide = model[0].passage_inputs(input_ids, attention_mask, token_type_ids)
                input_ids, attention_mask, token_type_ids = wide["input_ids"], wide["attention_mask"], wide.get("token_type_ids")
            out = getattr(self.m(**encoder_inputs(model, input_ids, attention_mask, token_type_ids)), encoder_output)
            if encoder_output != "logits":  # token states: run the head modules (segment_cosine, pooling + dense)
                features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_embeddings": out}
                if token_type_ids is not None:
                    features["token_type_ids"] = token_type_ids
                for module in list(model)[1:]:
                    features = module(features)
                out = features["scores"]
            return out.reshape(out.shape[0], -1) / divisor

    return ScoreGraph()


@contextlib.contextmanager
def traceable_segment_masks(model):
    """Model folders saved before rerankft's segment masks became traceable carry a copy of
    modeling_rerankft.py whose ``segment_masks`` branches on the data, which torch.export refuses. It is
    the same computation, so an export traces the package's version; the export is then checked
    against the folder's own code."""
    from rerankft.modeling import modeling_rerankft as ours

    patched = []
    for module in {sys.modules.get(type(m).__module__) for m in model}:
        if module is not None and module is not ours and module.__name__.endswith("modeling_rerankft") \
                and callable(getattr(module, "segment_masks", None)):
            patched.append((module, module.segment_masks))
            module.segment_masks = ours.segment_masks
    try:
        yield
    finally:
        for module, fn in patched:
            module.segment_masks = fn


def encoder_inputs(model, input_ids, attention_mask, token_type_ids=None) -> dict:
    """What the encoder is called with: the tokenizer's tensors, or, for the gated segment_cosine
    body, its 4-D cross-segment mask and restarted positions built from them (inside the exported
    graph, so the ONNX model takes the same three inputs as any other)."""
    kw = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        kw["token_type_ids"] = token_type_ids
    body = model[0]
    if hasattr(body, "body_inputs"):
        kw = {"input_ids": input_ids, **body.body_inputs(kw)}
    return kw


def numpy_feed(input_names, input_ids, attention_mask, token_type_ids) -> dict:
    """The graph's int64 numpy inputs (by name) from a CrossEncoder's tensors; zero token types where it wants them."""
    import torch

    feed = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if feed["token_type_ids"] is None and "token_type_ids" in input_names:
        feed["token_type_ids"] = torch.zeros_like(input_ids)
    return {n: feed[n].detach().cpu().numpy().astype(np.int64) for n in input_names}


def _graph_runner_class():
    import torch

    class GraphRunner(torch.nn.Module):
        """Called like the transformers model it replaces; returns the exported graph's scores under the
        name the CrossEncoder's first module reads (``logits``, or ``last_hidden_state`` for a body)."""

        def __init__(self, run, config, path: str, output: str):
            super().__init__()
            self.run, self.config, self.model_path, self.output = run, config, path, output
            self.device = torch.device("cpu")

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **_):
            return {self.output: self.run(input_ids, attention_mask, token_type_ids)}

    class GraphScores(torch.nn.Module):
        """In place of the head modules: the graph computed the head already, so its output IS the scores."""

        def __init__(self, key: str):
            super().__init__()
            self.key = key

        def forward(self, features, **_):
            features["scores"] = features.pop(self.key)
            return features

    return GraphRunner, GraphScores


def graph_runner(run, config, path: str, output: str):
    """A :class:`GraphRunner` (its class is made on first use: torch is imported late)."""
    return _graph_runner_class()[0](run, config, path, output)


def swap_encoder(model, encoder) -> None:
    """Put a score-graph runner in place of the transformers model and the head modules (ONNX Runtime and OpenVINO alike)."""
    transformer = model[0]
    transformer.model = encoder
    if hasattr(transformer, "body_inputs"):
        transformer.gate_in_graph = True  # the graph builds the gated inputs itself from the plain ones
    heads = list(model._modules)[1:]
    if heads:  # the graph ends with the head: its scores must not go through the head again
        for name in heads:
            del model._modules[name]
        model._modules["1"] = _graph_runner_class()[1](transformer.module_output_name)
