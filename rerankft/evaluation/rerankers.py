"""Which rerankers a benchmark compares (base, tuned, folders, hub ids), checked before anything loads,
and the factories that build first stages and reranking engines from the config.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Callable

from rerankft.core import distributed
from rerankft.core.errors import ConfigError, ModelError
from rerankft.core.runs import Run
from rerankft.core.settings import select
from rerankft.core.systems import ORACLE, SEP
from rerankft.modeling.names import resolve_model_name
from rerankft.retrieval.factory import build_first_stage, tuned_first_stages
from rerankft.scoring.cascade import Cascade, check_keep
from rerankft.scoring.library import (
    LibraryReranker,
    is_library_entry,
    parse_entry,
    preflight,
)
from rerankft.scoring.loading import cross_encoder_check, run_model_dir
from rerankft.scoring.reranker import Reranker
from rerankft.scoring.windows import windowing_kwargs

log = logging.getLogger("rerankft")


def _check_local_cross_encoder(path: str, key: str) -> None:
    """A local folder must be a cross-encoder: checked from its config files, nothing loaded.

    A bi-encoder folder would load with a random scoring head and rank at chance level;
    catching it here fails before the first stage runs instead of after.
    """

    if Path(path).is_dir():
        ok, reason = cross_encoder_check(path)
        if not ok:
            raise ModelError(f"{key}: not a cross-encoder: {reason}. Give a fine-tuned reranker folder or a cross-encoder hub id")


def _resolve(name: str, key: str) -> str:
    """resolve_model_name with the config key in the message (a missing folder, an empty name)."""
    try:
        return resolve_model_name(name)
    except ModelError as e:
        raise ModelError(f"{key}: {e}. Give an existing folder, a hub id, base or tuned") from None


def _display_name(entry: str) -> str:
    """Short system names for paths: '../models/my-reranker/' -> 'my-reranker'; hub ids stay as they are."""
    p = Path(entry).expanduser()
    if entry.startswith((".", "/", "~")) or p.exists():
        return p.resolve().name or entry
    return entry


def resolve_rerankers(cfg) -> dict[str, str]:
    """``rerankers`` (base | tuned | local folder | hub id | another library's entry, see
    :mod:`rerankft.scoring.library`) -> {system name: model path, hub id or library entry}.

    Every path is checked here, before any model is loaded, so a typo fails in a second.
    """
    entries = select(cfg, "rerankers", None)
    if entries is None:
        entries = select(cfg, "eval.rerankers", [])
    if isinstance(entries, str):
        entries = [entries]
    out: dict[str, str] = {}
    for entry in list(entries):
        entry = str(entry).strip()
        if not entry:
            raise ConfigError("rerankers contains an empty name: use base, tuned, a local folder or a hub id")
        if entry == "base":
            # A train run keeps the model exactly as training started in base_model/ when it
            # built a new head; that, not model.name with a random head, is what was fine-tuned.
            tuned = select(cfg, "tuned", None)
            run_base = Path(str(tuned)) / "base_model" if tuned else None
            if run_base is not None and run_base.is_dir():
                name, spec = "base", str(run_base)
            else:
                name, spec = "base", str(select(cfg, "model.name", "") or "")
                _resolve(spec, "model.name (the 'base' reranker)")
        elif entry == "tuned":
            tuned = select(cfg, "tuned", None)
            if not tuned:
                raise ModelError(
                    "rerankers includes 'tuned' but tuned is not set: add tuned=outputs/train/<run> "
                    "(a train run directory) or tuned=/path/to/model"
                )
            name, spec = "tuned", str(run_model_dir(str(tuned), "tuned"))
            _check_local_cross_encoder(spec, f"tuned={tuned}")
        elif is_library_entry(entry):  # another library's reranker: checked (key, dependency) now, built later
            lib = parse_entry(entry)
            preflight(lib)
            name, spec = lib.name, entry
        else:
            name, spec = _display_name(entry), _resolve(entry, "rerankers")
            _check_local_cross_encoder(spec, f"rerankers: {entry}")
        if name in (ORACLE,) or SEP in name:
            raise ConfigError(f"rerankers: '{entry}' gives the reserved system name '{name}'; rename the folder")
        if name in out and out[name] != spec:
            i = 2
            while f"{name}-{i}" in out:
                i += 1
            name = f"{name}-{i}"
        out[name] = spec
    return out


def first_stage_names(cfg, models=None) -> list[str]:
    """``eval.first_stages``, with the user's own run first when ``retriever=trec_run`` (it is what they compare against),
    then the ``-ft`` twins of dense and hybrid where a run fine-tuned its bi-encoder (``models["dense"]``)."""
    names = [str(n) for n in select(cfg, "eval.first_stages", ["bm25", "dense"])]
    if select(cfg, "retriever.kind", None) == "trec_run" and not {"run", "trec_run"} & set(names):
        names = ["run", *names]
    return names + tuned_first_stages(names, models)


def read_fusion(tuned: str | None) -> dict | None:
    """The fusion.json a train run wrote next to its model (None when there is none)."""
    import json

    if not tuned:
        return None
    p = Path(str(tuned)).expanduser()
    for f in (p / "fusion.json", p.parent / "fusion.json"):
        if f.is_file():
            try:
                selection = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise ModelError(f"{f} is unreadable ({e}); delete it or re-run training") from None
            return with_signal_paths(selection, f.parent)
    return None


def with_signal_paths(selection: dict, run: Path) -> dict:
    """``selection["signal_models"]`` (a run's own models, relative to its folder) as paths that exist.

    A fused system whose dense signal is the run's fine-tuned bi-encoder cannot be scored with
    another one: a missing folder is one ModelError naming it, before any model loads.
    """
    models = {}
    for name, path in (selection.get("signal_models") or {}).items():
        p = Path(str(path)).expanduser()
        p = p if p.is_absolute() else Path(run) / p
        if not p.is_dir():
            raise ModelError(f"{Path(run) / 'fusion.json'}: the fused system's {name} signal {path!r} is not a folder "
                             f"({p}); copy the run directory whole, or evaluate with rerank.fusion=false")
        models[name] = str(p)
    return {**selection, "signal_models": models} if models else selection


def retrieve_first_stages(cfg, dataset, names: list[str], query_ids: list[str], depth: int,
                          models=None) -> tuple[dict[str, Run], dict]:
    runs, described = {}, {}
    for name in names:
        retriever = build_first_stage(name, cfg, select(cfg, "cache_dir", None), models)
        log.info("first stage %s: top %d for %d queries", name, depth, len(query_ids))
        t0 = time.perf_counter()
        runs[name] = retriever.retrieve(dataset, query_ids, k=depth)
        described[name] = {**(retriever.describe() or {}), "seconds": round(time.perf_counter() - t0, 3)}
        del retriever
        gc.collect()
    return runs, described


def make_reranker_factory(cfg) -> Callable[[str], object]:
    def make(spec: str):
        if is_library_entry(spec):
            return LibraryReranker(parse_entry(spec))
        cache_dir = select(cfg, "cache_dir", None)  # exports (ONNX) live here; scores too with rerank.cache
        cache = cache_dir if select(cfg, "rerank.cache", False) else None
        # A bi-encoder checkpoint used as `base` gets a freshly initialised scoring head: seed it,
        # or two benchmark runs of the same model report different numbers.
        import torch

        torch.manual_seed(int(select(cfg, "eval.seed", 0)))
        full = Reranker(
            spec,  # Reranker resolves the name itself (and knows the packaged base may have a fresh head)
            backend=select(cfg, "rerank.backend", "torch"),
            max_length=select(cfg, "rerank.max_length", None),
            batch_tokens=select(cfg, "rerank.batch_tokens", 16384),
            cache_dir=cache,
            precision=select(cfg, "rerank.precision", "fp32"),
            device=distributed.device(),  # under a launch each rank scores on its own device; else the model's choice
            **windowing_kwargs(select(cfg, "rerank", None) or {}),
        )
        keep = select(cfg, "rerank.cascade.keep", None)
        if keep is None:
            return full
        # rerank.cascade: the cheap pass (int8 / shorter pairs / a student) orders every candidate first.
        cheap = Reranker(
            select(cfg, "rerank.cascade.model", None) or spec,
            backend=select(cfg, "rerank.cascade.backend", "onnx-int8"),
            max_length=select(cfg, "rerank.cascade.max_length", None),
            batch_tokens=select(cfg, "rerank.batch_tokens", 16384),
            cache_dir=cache_dir,
            score_cache=cache is not None,
        )
        return Cascade(full, cheap, check_keep(keep))

    return make


def rerank_shared(reranker, dataset, run: Run, top_k: int, query_ids: list[str], desc: str) -> Run:
    """``reranker.rerank_run`` over ``query_ids``; under a multi-process launch each rank reranks its
    share of the queries and every rank gets the whole reranked run (same scores, same query order)."""
    if distributed.world_size() == 1:
        return reranker.rerank_run(dataset, run, top_k, query_ids=query_ids, desc=desc)
    mine = distributed.share(query_ids)
    part = reranker.rerank_run(dataset, run, top_k, query_ids=mine, desc=f"{desc} [rank {distributed.rank()}]")
    merged = distributed.gather_dicts(part)
    return {q: merged[q] for q in query_ids}
