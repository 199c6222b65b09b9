"""Build a first stage from its config: ``retriever=<dense|bm25|hybrid|trec_run>`` or a name in ``eval.first_stages``.
"""

from __future__ import annotations

import logging

from rerankft.core.errors import ConfigError
from rerankft.retrieval.base import _cfg_get, retriever_config
from rerankft.retrieval.bm25 import BM25Retriever
from rerankft.retrieval.dense import DenseRetriever
from rerankft.retrieval.hybrid import HybridRetriever
from rerankft.retrieval.trec_run import TrecRunRetriever

log = logging.getLogger(__name__)


FIRST_STAGES = ("bm25", "dense", "hybrid")  # built from configs/retriever/<name>.yaml
_KINDS = {"dense": DenseRetriever, "bm25": BM25Retriever, "hybrid": HybridRetriever, "trec_run": TrecRunRetriever, "run": TrecRunRetriever}


def build_retriever(cfg_retriever, cache_dir):
    """The retriever named by ``retriever.kind`` (dense | bm25 | hybrid | trec_run)."""
    kind = _cfg_get(cfg_retriever, "kind", None)
    if kind not in _KINDS:
        raise ConfigError(f"retriever.kind={kind!r} is unknown: use retriever=dense, retriever=bm25, retriever=hybrid or retriever=trec_run")
    return _KINDS[kind](cfg_retriever, cache_dir)


def build_first_stage(name: str, cfg, cache_dir):
    """A first stage by name for ``eval.first_stages``: 'bm25', 'dense' or 'hybrid' (or 'run' when retriever=trec_run).

    When the config's own ``retriever`` group is of that kind its settings are used (so
    ``retriever.name=<model>`` changes the dense first stage too); otherwise the packaged defaults.
    """
    current = _cfg_get(cfg, "retriever", None) if cfg is not None else None
    current_kind = _cfg_get(current, "kind", None) if current is not None else None
    if name in ("run", "trec_run"):
        if current_kind != "trec_run":
            raise ConfigError(f"eval.first_stages names '{name}' but retriever is not trec_run: add retriever=trec_run retriever.path=<file>")
        return TrecRunRetriever(current, cache_dir)
    if name not in FIRST_STAGES:
        raise ConfigError(f"eval.first_stages contains unknown first stage {name!r}: use bm25, dense, hybrid (or run with retriever=trec_run)")
    if current_kind == name:
        return build_retriever(current, cache_dir)
    return build_retriever(retriever_config(name), cache_dir)


def build_signal(name: str, cfg, cache_dir, model: str | None = None):
    """A fusion signal's scorer: the first stage ``name``, or for ``dense`` with ``model`` the same
    settings with that bi-encoder (a train run's fine-tuned one: ``fusion.json["signal_models"]``)."""
    if model is None:
        return build_first_stage(name, cfg, cache_dir)
    if name != "dense":
        raise ConfigError(f"a fusion signal's own model is only for the dense signal, not {name!r}")
    current = _cfg_get(cfg, "retriever", None) if cfg is not None else None
    if _cfg_get(current, "kind", None) == "dense":
        from omegaconf import OmegaConf

        base = OmegaConf.to_container(current) if OmegaConf.is_config(current) else dict(current)
    else:
        base = retriever_config("dense")
    return build_retriever({**base, "kind": "dense", "name": str(model)}, cache_dir)
