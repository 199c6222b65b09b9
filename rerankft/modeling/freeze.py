"""Keep the lowest layers of the encoder as the checkpoint has them (``train.freeze_layers``).

Why: with a hundred labelled queries, every weight of the encoder moving is more freedom than the
labels can pin down. Few-sample fine-tuning keeps the general-purpose lower layers and adapts the
upper ones (Howard and Ruder 2018; Lee et al. 2019, "What would Elsa do? Freezing layers during
transformer fine-tuning"); it also skips their backward pass. Neither sentence-transformers nor
transformers has a setting for it, so it is ``requires_grad`` on parameters picked by name (the
trainer's optimizer leaves out parameters that do not require a gradient).
"""

from __future__ import annotations

import re

from rerankft.core.errors import ConfigError

# BERT / RoBERTa / XLM-R names: "...embeddings.word_embeddings.weight", "...encoder.layer.3.attention..."
_EMBEDDINGS = re.compile(r"(^|\.)embeddings\.")
_LAYER = re.compile(r"(^|\.)encoder\.layer\.(\d+)\.")


def freeze_setting(value) -> int:
    """``train.freeze_layers`` as an integer >= 0 (null = 0), or refused naming the key; checked before any work."""
    value = 0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"train.freeze_layers={value!r} is invalid: expected an integer >= 0")
    return value


def freeze_lower_layers(model, layers) -> dict:
    """Freeze the token embeddings and encoder layers ``0 .. layers-1`` of ``model`` in place.

    Returns {"layers": layers, "frozen_parameters": n, "trainable_parameters": m}. ``layers`` 0
    freezes nothing. A value above the encoder's depth is refused: it would freeze the whole encoder.
    """
    layers = freeze_setting(layers)
    named = list(model.named_parameters())
    depth = 1 + max((int(m.group(2)) for n, _ in named if (m := _LAYER.search(n))), default=-1)
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
