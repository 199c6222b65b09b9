"""Identity of a model's scores (content hash of a folder, hub id@commit, or in-memory weights): the score cache's key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch / sentence-transformers load lazily: `import rerankft` stays light
    from sentence_transformers import CrossEncoder


log = logging.getLogger(__name__)


# Files whose bytes decide a local model's scores: weights, configs, tokenizer.
_FINGERPRINT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".xml", ".pt", ".json", ".txt", ".model")


_FP_MEMO: dict[tuple, str] = {}


def model_fingerprint(name_or_path: str, revision: str | None = None) -> str:
    """Identity of a model's scores: a content hash for local folders, id@revision for hub ids.

    A local folder hashes its weights, configs and tokenizer files (so re-training into the
    same folder changes the fingerprint); a hub id uses the commit of the locally cached
    snapshot when there is one (else the requested revision, default "main").
    """
    p = Path(name_or_path)
    if p.is_dir():
        files = sorted(
            f for f in p.rglob("*") if f.is_file() and f.suffix in _FINGERPRINT_SUFFIXES and not f.name.startswith(".")
        )
        memo_key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
        if memo_key in _FP_MEMO:
            return _FP_MEMO[memo_key]
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.relative_to(p).as_posix()}\0{f.stat().st_size}\0".encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        fp = "dir-" + h.hexdigest()[:24]
        _FP_MEMO[memo_key] = fp
        return fp
    rev = revision or _cached_hub_commit(name_or_path) or "main"
    return f"hub-{name_or_path}@{rev}"


def _cached_hub_commit(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - any failure just means "no local snapshot"
        return None
    if isinstance(hit, str):
        parts = Path(hit).parts
        if "snapshots" in parts:
            return parts[parts.index("snapshots") + 1]
    return None


def module_fingerprint(model: "CrossEncoder") -> str:
    """Fingerprint of an in-memory model (e.g. mid-training): a hash of its current weights."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(model.model.config.to_dict(), sort_keys=True, default=str).encode())
    return "mem-" + h.hexdigest()[:24]
