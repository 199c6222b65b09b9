"""The one way code reads a config value.

Defaults live in ``configs/`` (Hydra composes them); code reads what is there. ``select``
returns ``default`` only for keys a caller's partial config (a test, the Python API) leaves out.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from rerankft.core.errors import ConfigError


def select(cfg, key: str, default: Any = None) -> Any:
    """``cfg.<key>`` for a dotted key; ``default`` when it is missing or null (also for plain dicts and None)."""
    if cfg is None:
        return default
    if OmegaConf.is_config(cfg):
        try:
            value = OmegaConf.select(cfg, key, default=None, throw_on_missing=True)
        except MissingMandatoryValue:
            raise ConfigError(f"{key} is not set (???): give it on the command line, e.g. {key}=...") from None
    else:
        value = cfg
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
    return default if value is None else value


def stage_loss(cfg, stage: str = "labelled"):
    """The loss settings a training stage uses: ``loss`` for the labelled fine-tune; for the label-free
    stage (``stage="adapt"``) ``adapt.loss`` when it names one, else the same ``loss``."""
    if stage == "adapt" and select(cfg, "adapt.loss") is not None:
        return select(cfg, "adapt.loss")
    return select(cfg, "loss")
