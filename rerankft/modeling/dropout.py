"""``train.dropout``: the encoder's dropout probability while it trains (null: the checkpoint's own).

Why a setting: on a 2-core CPU, drawing dropout masks (``aten::bernoulli_``) took 16% of a training
step of MiniLM (20 pairs x 128 tokens; ``benchmarks/bench_train_step.py``). The checkpoint's
``hidden_dropout_prob`` and ``attention_probs_dropout_prob`` are read when the model is built, so
the override sets every ``nn.Dropout`` of the encoder and those two config values (a saved folder
then records what it was trained with; scoring never uses dropout). transformers' BERT reads the
attention dropout from its module's ``p`` at each call, so changing ``p`` is enough.
"""

from __future__ import annotations

from rerankft.core.errors import ConfigError

_CONFIG_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


def dropout_setting(value) -> float | None:
    """``train.dropout`` as a float in [0, 1), or None (the checkpoint's own), or refused naming the key."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"train.dropout={value!r} is invalid: expected a probability in [0, 1) or null")
    return float(value)


def set_dropout(model, value) -> dict | None:
    """Every dropout module of ``model`` to ``train.dropout`` (None: unchanged); returns what was set, for the log."""
    p = dropout_setting(value)
    if p is None:
        return None
    import torch

    modules = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    for m in modules:
        m.p = p
    for sub in model.modules():  # the transformers model(s) inside: their configs carry the probabilities
        config = getattr(sub, "config", None)
        for key in _CONFIG_KEYS:
            if config is not None and hasattr(config, key):
                setattr(config, key, p)
    return {"dropout": p, "modules": len(modules)}
