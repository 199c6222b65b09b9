"""Keep the lowest layers of the encoder as the checkpoint has them (``train.freeze_layers``), or
move them less than the upper ones (``train.layer_lr_decay``).

Why: with a hundred labelled queries, every weight of the encoder moving is more freedom than the
labels can pin down. Few-sample fine-tuning keeps the general-purpose lower layers and adapts the
upper ones (Howard and Ruder 2018; Lee et al. 2019, "What would Elsa do? Freezing layers during
transformer fine-tuning"); it also skips their backward pass. Neither sentence-transformers nor
transformers has a setting for it, so it is ``requires_grad`` on parameters picked by name (the
trainer's optimizer leaves out parameters that do not require a gradient).

Layer-wise learning-rate decay is the soft form of the same idea (Howard and Ruder 2018; Clark et
al. 2020, ELECTRA; Sun et al. 2019, "How to fine-tune BERT for text classification?"): the top
layer learns at ``train.learning_rate``, each layer below at ``decay`` times the one above it, the
embeddings last. sentence-transformers' ``learning_rate_mapping`` (regex -> learning rate) carries
it, so the mapping is all that is built here; the head's and the segment gate's own rates
(``train.head_learning_rate``, ``train.gate_learning_rate``) are patterns in the same mapping.
"""

from __future__ import annotations

import re

from rerankft.core.errors import ConfigError

# BERT / RoBERTa / XLM-R names: "...embeddings.word_embeddings.weight", "...encoder.layer.3.attention..."
_EMBEDDINGS = re.compile(r"(^|\.)embeddings\.")
_LAYER = re.compile(r"(^|\.)encoder\.layer\.(\d+)\.")
_GATE = r"model\.0\.segment_gate"  # the gated body's one cross-segment scalar, as the optimizer names it


def freeze_setting(value) -> int:
    """``train.freeze_layers`` as an integer >= 0 (null = 0), or refused naming the key; checked before any work."""
    value = 0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"train.freeze_layers={value!r} is invalid: expected an integer >= 0")
    return value


def _depth(named) -> int:
    return 1 + max((int(m.group(2)) for n, _ in named if (m := _LAYER.search(n))), default=-1)


def decay_setting(value) -> float | None:
    """``train.layer_lr_decay`` as a float in (0, 1], or None (off), or refused naming the key."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
        raise ConfigError(f"train.layer_lr_decay={value!r} is invalid: expected a number in (0, 1] or null")
    return float(value)


def layer_learning_rates(model, learning_rate: float, decay) -> dict[str, float]:
    """{parameter-name regex: learning rate} for ``learning_rate_mapping``: encoder layer ``i`` of
    ``depth`` learns at ``learning_rate * decay ** (depth - 1 - i)``, the embeddings at
    ``learning_rate * decay ** depth``. Empty when ``decay`` is None or 1 (one rate for all).
    The patterns match the optimizer's names (``model.0.model.encoder.layer.3...``) as well as the model's."""
    decay = decay_setting(decay)
    if decay is None or decay == 1.0:
        return {}
    depth = _depth(list(model.named_parameters()))
    if not depth:
        raise ConfigError("train.layer_lr_decay is set, but no encoder.layer.<n> weights were found in model.name (a BERT-style encoder is needed)")
    rates = {_EMBEDDINGS.pattern: learning_rate * decay**depth}
    for i in range(depth):
        rates[rf"(^|\.)encoder\.layer\.{i}\."] = learning_rate * decay ** (depth - 1 - i)
    return rates


def freeze_lower_layers(model, layers) -> dict:
    """Freeze the token embeddings and encoder layers ``0 .. layers-1`` of ``model`` in place.

    Returns {"layers": layers, "frozen_parameters": n, "trainable_parameters": m}. ``layers`` 0
    freezes nothing. A value above the encoder's depth is refused: it would freeze the whole encoder.
    """
    layers = freeze_setting(layers)
    named = list(model.named_parameters())
    depth = _depth(named)
    if layers > depth:
        found = f"the encoder has {depth} layers" if depth else "no encoder.layer.<n> weights were found (a BERT-style encoder is needed)"
        raise ConfigError(f"train.freeze_layers={layers} is invalid for model.name: {found}")
    frozen = 0
    if layers:
        for name, param in named:
            layer = _LAYER.search(name)
            if _EMBEDDINGS.search(name) or (layer and int(layer.group(2)) < layers):
                param.requires_grad_(False)
                frozen += param.numel()
    trainable = sum(p.numel() for _, p in named if p.requires_grad)
    return {"layers": layers, "frozen_parameters": frozen, "trainable_parameters": trainable}


def head_parameter_pattern(model) -> str:
    """A regex for the scoring head's parameter names as the trainer's optimizer sees them.

    The optimizer walks ``loss.named_parameters()`` (the model sits at ``loss.model``), so
    names look like ``model.0.model.classifier.weight`` (cls head; XLM-R's is
    ``classifier.dense`` / ``classifier.out_proj``) or ``model.2.linear.weight`` (mean head).
    """
    from sentence_transformers.base.modules import Dense

    last = len(model) - 1
    if isinstance(model[last], Dense):
        return rf"^model\.{last}\.linear\."
    if type(model[last]).__name__ == "SegmentCosineScore":  # ours, or its copy loaded from a model folder
        # with the gated body, its cross-segment gate (model.0.segment_gate) learns at the head's rate too
        return rf"^(model\.{last}\.(scale|bias)|{_GATE})$"
    return r"\.classifier\."


GATE_PATTERN = rf"^{_GATE}$"


def gate_rate(model, cfg_train) -> dict[str, float]:
    """``train.gate_learning_rate``: the segment gate's own rate ({} = it learns at the head's rate).

    One scalar that Adam moves by about its rate per step: at the head's 1e-3 the gate ends two
    epochs within 0.07 of where it started, so its own rate is what lets training choose how far
    the query and the passage see each other."""
    rate = cfg_train.get("gate_learning_rate")
    if rate is None or not hasattr(model[0], "segment_gate"):
        return {}
    return {GATE_PATTERN: float(rate)}
