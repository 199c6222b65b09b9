"""Build a first stage from its config: ``retriever=<dense|bm25|hybrid|prf|trec_run>`` or a name in ``eval.first_stages``.
"""

from __future__ import annotations

import logging

from rerankft.core.errors import ConfigError
from rerankft.retrieval.base import _cfg_get, retriever_config
from rerankft.retrieval.bm25 import BM25Retriever
from rerankft.retrieval.dense import DenseRetriever
from rerankft.retrieval.hybrid import HybridRetriever
from rerankft.retrieval.prf import PrfRetriever
from rerankft.retrieval.rm3 import RM3Retriever
from rerankft.retrieval.trec_run import TrecRunRetriever

log = logging.getLogger(__name__)


FIRST_STAGES = ("bm25", "dense", "hybrid", "prf", "rm3")  # built from configs/retriever/<name>.yaml
# A first stage whose candidates are another's, re-ordered: reported alone, never reranked again.
REORDERS = {"prf": "hybrid"}

# A first stage whose bi-encoder is the run's fine-tuned one (bi_encoder=mnrl): "dense-ft", "hybrid-ft".
# They are reported next to the untrained ones, never instead of them: those stay the baselines.
TUNED_SUFFIX = "-ft"
TUNABLE = ("dense", "hybrid")  # the first stages with a bi-encoder in them
# The first stages whose scores are signals beside a reranker's: each scores any (query, passage)
# pair on its own. The fusion adds them to the tuned score; the teacher's lists add them up.
SIGNALS = ("bm25", "dense")


def rerankable(names) -> list[str]:
    """``names`` less any first stage whose candidates are another one's in ``names``, re-ordered
    (prf beside hybrid): reranking those candidates again would give the same systems twice."""
    names = list(names)
    return [n for n in names if REORDERS.get(n) not in names]


def tuned_first_stages(names, models) -> list[str]:
    """The ``-ft`` twins of ``names`` that a run's fine-tuned bi-encoder (``models["dense"]``) gives; [] without one."""
    if not (models or {}).get("dense"):
        return []
    return [f"{n}{TUNED_SUFFIX}" for n in names if n in TUNABLE]


_KINDS = {"dense": DenseRetriever, "bm25": BM25Retriever, "hybrid": HybridRetriever, "prf": PrfRetriever,
          "rm3": RM3Retriever, "trec_run": TrecRunRetriever, "run": TrecRunRetriever}


def build_retriever(cfg_retriever, cache_dir):
    """The retriever named by ``retriever.kind`` (dense | bm25 | hybrid | prf | trec_run)."""
    kind = _cfg_get(cfg_retriever, "kind", None)
    if kind not in _KINDS:
        raise ConfigError(f"retriever.kind={kind!r} is unknown: use retriever=dense, retriever=bm25, retriever=hybrid, retriever=prf or retriever=trec_run")
    return _KINDS[kind](cfg_retriever, cache_dir)


def build_first_stage(name: str, cfg, cache_dir, models=None):
    """A first stage by name for ``eval.first_stages``: 'bm25', 'dense' or 'hybrid' (or 'run' when retriever=trec_run).

    When the config's own ``retriever`` group is of that kind its settings are used (so
    ``retriever.name=<model>`` changes the dense first stage too); otherwise the packaged defaults.
    'dense-ft' and 'hybrid-ft' are the same with the bi-encoder ``models["dense"]`` (a train run's
    fine-tuned one).
    """
    if name.endswith(TUNED_SUFFIX) and name[: -len(TUNED_SUFFIX)] in TUNABLE:
        model = (models or {}).get("dense")
        if not model:
            raise ConfigError(f"first stage {name!r} needs a fine-tuned bi-encoder: train with bi_encoder=mnrl")
        if name.startswith("dense"):
            return build_signal("dense", cfg, cache_dir, model)
        hybrid = _settings("hybrid", cfg)
        dense = {**{k: v for k, v in _settings("dense", cfg).items() if k != "kind"}, **dict(hybrid.get("dense") or {})}
        return HybridRetriever({**hybrid, "dense": {**dense, "name": str(model)}}, cache_dir)
    current = _cfg_get(cfg, "retriever", None) if cfg is not None else None
    current_kind = _cfg_get(current, "kind", None) if current is not None else None
    if name in ("run", "trec_run"):
        if current_kind != "trec_run":
            raise ConfigError(f"eval.first_stages names '{name}' but retriever is not trec_run: add retriever=trec_run retriever.path=<file>")
        return TrecRunRetriever(current, cache_dir)
    if name not in FIRST_STAGES:
        raise ConfigError(f"eval.first_stages contains unknown first stage {name!r}: use bm25, dense, hybrid, prf (or run with retriever=trec_run)")
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
    return build_retriever({**_settings("dense", cfg), "kind": "dense", "name": str(model)}, cache_dir)


def _settings(kind: str, cfg) -> dict:
    """The config's own ``retriever`` settings when it is of ``kind``, else the packaged defaults; a plain dict."""
    current = _cfg_get(cfg, "retriever", None) if cfg is not None else None
    if _cfg_get(current, "kind", None) != kind:
        return retriever_config(kind)
    from omegaconf import OmegaConf

    return OmegaConf.to_container(current, resolve=True) if OmegaConf.is_config(current) else dict(current)
