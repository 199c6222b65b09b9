"""Load a cross-encoder for scoring, with a clear error for anything that is not one; run directory -> model folder.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from rerankft.core.errors import ConfigError, ModelError
from rerankft.modeling.names import (
    PACKAGED_ALIASES,
    packaged_minilm_path,
    resolve_model_name,
)
from rerankft.scoring import hardware
from rerankft.scoring.backends import load_backend_model
from rerankft.scoring.fingerprint import model_fingerprint

if TYPE_CHECKING:  # torch / sentence-transformers load lazily: `import rerankft` stays light
    from sentence_transformers import CrossEncoder


log = logging.getLogger(__name__)


BACKENDS = ("torch", "onnx", "onnx-int8", "openvino", "openvino-bf16", "openvino-int8")


PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def resolve_precision(precision: str, backend: str, device) -> str:
    """``auto``: bf16 autocast where the hardware computes bf16 natively and faster than fp32 (a GPU that
    supports it; a CPU with AVX512-BF16/AMX where a timed matmul says bf16 pays, :func:`hardware.bf16_pays`)
    on the torch backend, else fp32. Other values are returned as they are."""
    if precision != "auto":
        return precision
    if backend != "torch":
        return "fp32"
    import torch

    kind = getattr(device, "type", str(device or "cpu")).split(":")[0]
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if kind == "cpu" and hardware.bf16_pays() else "fp32"


def autocast(precision: str, device):
    """The scoring forward's context: nothing for fp32, else torch autocast to fp16/bf16 on ``device``'s type."""
    if precision == "fp32":
        return nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def cross_encoder_check(path: str | os.PathLike) -> tuple[bool, str]:
    """Is the model folder a cross-encoder (has a trained scoring head)? Returns (ok, reason).

    A sentence-transformers bi-encoder folder (modules.json with Pooling, or a bare
    ``BertModel``) also *loads* as a CrossEncoder, but with a freshly initialised, random
    head: its scores mean nothing. That is the mistake this check catches.
    """
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        return False, f"{path} has no config.json (not a transformers/sentence-transformers model folder)"
    try:
        archs = json.loads(cfg_file.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, json.JSONDecodeError) as e:
        return False, f"{cfg_file} is unreadable ({e})"
    st_cfg = path / "config_sentence_transformers.json"
    if (path / "modules.json").is_file() and st_cfg.is_file():
        try:
            model_type = json.loads(st_cfg.read_text(encoding="utf-8")).get("model_type")
        except (OSError, json.JSONDecodeError):
            model_type = None
        if model_type == "CrossEncoder":
            return True, "sentence-transformers CrossEncoder folder"
        if model_type and model_type != "CrossEncoder":
            return False, f"{path} is a sentence-transformers {model_type} (a bi-encoder), not a cross-encoder"
        if (path / "1_Pooling").exists() or any(
            "Pooling" in m.get("type", "") for m in _read_modules(path / "modules.json")
        ):
            return False, f"{path} is a sentence-transformers bi-encoder (it has a Pooling module), not a cross-encoder"
    if any(a.endswith(("ForSequenceClassification", "ForCausalLM")) for a in archs):
        return True, f"transformers {archs[0]}"
    return False, f"{path} holds a {archs[0] if archs else 'bare encoder'} without a scoring head, not a cross-encoder"


def _read_modules(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, list) else []
    except (OSError, json.JSONDecodeError):
        return []


def _is_packaged_base(name: str, resolved: str) -> bool:
    return name in PACKAGED_ALIASES or Path(resolved).resolve() == Path(packaged_minilm_path()).resolve()


def load_cross_encoder(
    name_or_path: str,
    max_length: int | None = None,
    backend: str = "torch",
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    allow_fresh_head: bool | None = None,
) -> "CrossEncoder":
    """Load a cross-encoder for scoring, with a clear :class:`ModelError` for unusable paths.

    ``allow_fresh_head``: a bi-encoder checkpoint loads as a CrossEncoder with a random scoring
    head. ``None`` (default) allows that only for the packaged base model (the documented
    "base" reranker before fine-tuning) and refuses any other bi-encoder folder, which is
    almost always a wrong path given where a tuned reranker was meant.
    """

    _check_backend(backend)
    resolved = resolve_model_name(str(name_or_path))
    local = Path(resolved).is_dir()
    if Path(resolved).exists() and not local:
        raise ModelError(f"model path is a file, not a model folder: {resolved}")
    if allow_fresh_head is None:
        allow_fresh_head = _is_packaged_base(str(name_or_path), resolved)
    if local:
        ok, reason = cross_encoder_check(resolved)
        if not ok and not allow_fresh_head:
            raise ModelError(
                f"not a cross-encoder: {reason}. Point the reranker at a fine-tuned model folder "
                "(a train run's model/ folder) or a cross-encoder hub id; to rank with an untrained "
                "head on purpose pass allow_fresh_head=True."
            )
        if not ok:
            log.warning("%s: scoring with a freshly initialised head (%s)", name_or_path, reason)
    fingerprint = model_fingerprint(resolved)
    if backend.startswith("openvino"):
        # its own module, imported only when asked for (openvino and nncf load lazily inside it too)
        from rerankft.scoring.openvino import load_openvino_model

        loader = load_openvino_model
    else:
        loader = load_backend_model
    return loader(
        resolved, backend=backend, max_length=max_length, device=device, cache_dir=cache_dir, fingerprint=fingerprint
    )


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"rerank.backend={backend!r} is not one of: {', '.join(BACKENDS)}")


def resolve_reranker_path(spec: str) -> str:
    """A model folder, a hub id, or a train run directory (its ``model/`` folder is used).

    The one rule for "run directory -> model folder"; :func:`run_model_dir` is its strict form.
    """
    p = Path(str(spec)).expanduser()
    if p.is_dir() and not (p / "config.json").is_file() and (p / "model" / "config.json").is_file():
        return str(p / "model")
    return str(spec)


def run_model_dir(path: str | os.PathLike, key: str) -> Path:
    """A train run directory or a model folder -> the model folder, or a :class:`ModelError` naming ``key``.

    Checked from the files alone, nothing loaded: a typo fails before any data or model loads.
    """
    p = Path(str(path)).expanduser()
    if not p.exists():
        raise ModelError(f"{key}={path}: no such folder. Give a train run directory (outputs/train/<run>) or a model folder")
    resolved = Path(resolve_reranker_path(str(p)))
    if (resolved / "config.json").is_file():
        return resolved
    raise ModelError(
        f"{key}={path}: no tuned model in it: neither a finished train run directory (no model/ inside; it is written "
        "when training finishes) nor a model folder (no config.json). Point it at the run directory that "
        "`python scripts/train.py` printed, or at its model/ folder"
    )


def check_engine_settings(backend: str, precision: str, batch_tokens, batch_size, max_length) -> None:
    """The ``rerank:`` settings of a :class:`~rerankft.scoring.reranker.Reranker`, each error naming its key."""
    _check_backend(backend)
    if precision not in PRECISIONS:
        raise ConfigError(f"rerank.precision={precision!r} is not one of: {', '.join(PRECISIONS)}")
    if precision not in ("fp32", "auto") and backend != "torch":
        raise ConfigError(f"rerank.precision={precision} needs rerank.backend=torch (got {backend})")
    if not isinstance(batch_tokens, int) or batch_tokens < 1:
        raise ConfigError(f"rerank.batch_tokens must be a positive integer, got {batch_tokens!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"rerank.batch_size must be a positive integer or null, got {batch_size!r}")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 8):
        raise ConfigError(f"rerank.max_length must be an integer >= 8 or null, got {max_length!r}")
