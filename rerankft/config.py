"""Config checks that run before anything expensive: every error names the key and a fix."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from rerankft.errors import ConfigError

KNOWN_BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-int8")


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None)


def _positive_int(cfg: DictConfig, key: str, allow_minus_one: bool = False) -> None:
    value = _get(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or (value <= 0 and not (allow_minus_one and value == -1)):
        extra = " (or -1 for no cap)" if allow_minus_one else ""
        raise ConfigError(f"{key}={value!r} is invalid: expected a positive integer{extra}")


def _positive_number(cfg: DictConfig, key: str) -> None:
    value = _get(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key}={value!r} is invalid: expected a positive number")


def validate_config(cfg: DictConfig) -> None:
    for key in ("rerank.top_k", "rerank.batch_tokens", "rerank.max_length", "train.batch_size", "train.max_length", "dev.top_k"):
        _positive_int(cfg, key)
    _positive_int(cfg, "train.max_steps", allow_minus_one=True)
    for key in ("train.learning_rate", "train.epochs"):
        _positive_number(cfg, key)
    backend = _get(cfg, "rerank.backend")
    if backend is not None and backend not in KNOWN_BACKENDS:
        raise ConfigError(f"rerank.backend={backend!r} is unknown: use one of {', '.join(KNOWN_BACKENDS)}")
    if _get(cfg, "hub.push") and not _get(cfg, "hub.repo_id"):
        raise ConfigError("hub.push=true needs hub.repo_id=<user>/<model-name>")
