"""``train.dropout``: the encoder's dropout probability while it trains (null: the checkpoint's own);
``adapt.dropout``: the same for the label-free stage only.

Why a setting: on a 2-core CPU, drawing dropout masks (``aten::bernoulli_``) took 16% of a training
step of MiniLM (20 pairs x 128 tokens; ``benchmarks/bench_train_step.py``). The checkpoint's
``hidden_dropout_prob`` and ``attention_probs_dropout_prob`` are read when the model is built, so
the override sets every ``nn.Dropout`` of the encoder and those two config values (a saved folder
then records what it was trained with; scoring never uses dropout). transformers' BERT reads the
attention dropout from its module's ``p`` at each call, so changing ``p`` is enough.
"""

from __future__ import annotations

import contextlib

from rerankft.core.errors import ConfigError

_CONFIG_KEYS = ("hidden_dropout_prob", "attention_probs_dropout_prob")


def dropout_setting(value, key: str = "train.dropout") -> float | None:
    """``key``'s value as a float in [0, 1), or None (unchanged), or refused naming the key."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{key}={value!r} is invalid: expected a probability in [0, 1) or null")
    return float(value)


def _holders(model) -> tuple[list, list]:
    """Where ``model`` keeps its dropout probabilities: its ``nn.Dropout`` modules, and the configs of
    the transformers model(s) inside (what a saved folder records)."""
    import torch

    modules = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    configs = [c for c in (getattr(sub, "config", None) for sub in model.modules())
               if c is not None and any(hasattr(c, key) for key in _CONFIG_KEYS)]
    return modules, configs


def set_dropout(model, value) -> dict | None:
    """Every dropout module of ``model`` to ``train.dropout`` (None: unchanged); returns what was set, for the log."""
    p = dropout_setting(value)
    if p is None:
        return None
    modules, configs = _holders(model)
    for m in modules:
        m.p = p
    for config in configs:
        for key in _CONFIG_KEYS:
            if hasattr(config, key):
                setattr(config, key, p)
    return {"dropout": p, "modules": len(modules)}


@contextlib.contextmanager
def dropout_during(model, value):
    """``adapt.dropout``: every dropout of ``model`` at ``value`` inside the block (None: unchanged),
    then back to what each module and config held before, so the labelled stage and the saved
    ``config.json`` keep ``train.dropout``'s values."""
    p = dropout_setting(value, "adapt.dropout")
    if p is None:
        yield
        return
    modules, configs = _holders(model)
    before = [m.p for m in modules], [{k: getattr(c, k) for k in _CONFIG_KEYS if hasattr(c, k)} for c in configs]
    set_dropout(model, p)
    try:
        yield
    finally:
        for m, old in zip(modules, before[0]):
            m.p = old
        for c, old in zip(configs, before[1]):
            for k, v in old.items():
                setattr(c, k, v)
