"""Load a cross-encoder on one of rerankft's backends (config ``rerank.backend``).

torch          the model as trained (fp32; ``precision=`` adds fp16/bf16 autocast on GPU)
onnx           ONNX Runtime, exported by sentence-transformers (``CrossEncoder(backend="onnx")``)
onnx-int8      ONNX + dynamic int8 quantization (``export_dynamic_quantized_onnx_model``)
openvino       OpenVINO IR (``CrossEncoder(backend="openvino")``)
openvino-int8  OpenVINO + static int8 quantization (``export_static_quantized_openvino_model``)

All exporting is sentence-transformers' own code (through Hugging Face ``optimum``); this
module only decides where exports live: ``<cache_dir>/exports/<model fingerprint>/<backend>``,
so a model is exported once per content version and a retrained model is re-exported.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from rerankft.errors import ModelError

log = logging.getLogger(__name__)


def load_backend_model(
    resolved: str,
    backend: str,
    max_length: int | None,
    device: str | None,
    cache_dir: str | os.PathLike | None,
    fingerprint: str,
):
    from sentence_transformers import CrossEncoder

    if backend == "torch":
        return _construct(CrossEncoder, resolved, max_length=max_length, device=device)
    raise ModelError(f"rerank.backend={backend} is not available in this build (use rerank.backend=torch)")


def _construct(cls, resolved: str, **kwargs):
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return cls(resolved, **kwargs)
    except (OSError, ValueError) as e:
        hint = ""
        if not Path(resolved).exists():
            hint = (
                " If this is a Hugging Face Hub id, the Hub must be reachable or the model must be in the local "
                "cache (HF_HUB_OFFLINE=1 only uses the cache); a local folder must exist."
            )
        raise ModelError(f"cannot load cross-encoder '{resolved}': {e}.{hint}") from e


def export_root(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is None:
        # No cache_dir: exports still need a home; a per-process temp folder (re-exported next run).
        return Path(tempfile.mkdtemp(prefix="rerankft-export-"))
    return Path(cache_dir) / "exports"
