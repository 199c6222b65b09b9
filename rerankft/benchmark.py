"""The benchmark: first stages, rerankers of the same candidates, oracles, statistics, cost, outputs.

Read top to bottom, ``run_benchmark`` does:

1. retrieve each first stage ONCE for the test queries (deep enough for every measure cutoff);
2. cut each first stage to its top-k: these candidate lists are what EVERY reranker gets;
3. rerank them with each reranker (one model load per reranker), timing it;
4. build the oracle of each first stage (its top-k sorted by the qrels);
5. score every system per query, add bootstrap CIs, paired tests (Holm-corrected) and headroom;
6. write metrics.json, per_query.tsv, runs/*.trec, report.md and report.png atomically.

A reranker's final ranking is its order of the top-k followed by the first stage's tail
(below rank k) in first-stage order: positives the first stage missed are never injected,
so Recall@k for k >= top_k is the first stage's ceiling for every reranker.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from pathlib import Path
from typing import Callable, Mapping

from omegaconf import OmegaConf

from rerankft import report
from rerankft.errors import ConfigError, ModelError
from rerankft.fusion import SUFFIX as FUSED, fuse
from rerankft.io import write_json, write_text
from rerankft.metrics import (
    Run,
    evaluate_run,
    measure_cutoff,
    oracle_rankings,
    parse_measures,
    ranked_ids,
    rerank_with_tail,
    run_from_rankings,
    truncate_run,
)
from rerankft.models import resolve_model_name
from rerankft.stats import bootstrap_ci, holm_bonferroni, paired_randomization_test, paired_t_test

log = logging.getLogger("rerankft")

ORACLE = "oracle"
SEP = ">>"


def _get(cfg, key: str, default=None):
    value = OmegaConf.select(cfg, key, default=default) if OmegaConf.is_config(cfg) else default
    return default if value is None else value


# ----------------------------------------------------------------------------- which rerankers


def _tuned_model_dir(tuned: str) -> Path:
    """A train run directory (with model/) or a model folder -> the model folder; checked, nothing loaded."""
    p = Path(tuned).expanduser()
    if not p.exists():
        raise ModelError(f"tuned={tuned}: no such folder. Give a train run directory (outputs/train/<run>) or a model folder")
    if (p / "model").is_dir():
        return p / "model"
    if (p / "config.json").is_file():
        return p
    raise ModelError(
        f"tuned={tuned}: neither a train run directory (no model/ inside) nor a model folder (no config.json). "
        "Point tuned= at the run directory that `python scripts/train.py` printed, or at its model/ folder"
    )


def _check_local_cross_encoder(path: str, key: str) -> None:
    """A local folder must be a cross-encoder: checked from its config files, nothing loaded.

    A bi-encoder folder would load with a random scoring head and rank at chance level;
    catching it here fails before the first stage runs instead of after.
    """
    from rerankft.rerank import cross_encoder_check

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
    """``rerankers`` (base | tuned | local folder | hub id) -> {system name: model path or hub id}.

    Every path is checked here, before any model is loaded, so a typo fails in a second.
    """
    entries = _get(cfg, "rerankers", None)
    if entries is None:
        entries = _get(cfg, "eval.rerankers", [])
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
            tuned = _get(cfg, "tuned", None)
            run_base = Path(str(tuned)) / "base_model" if tuned else None
            if run_base is not None and run_base.is_dir():
                name, spec = "base", str(run_base)
            else:
                name, spec = "base", str(_get(cfg, "model.name", "") or "")
                _resolve(spec, "model.name (the 'base' reranker)")
        elif entry == "tuned":
            tuned = _get(cfg, "tuned", None)
            if not tuned:
                raise ModelError(
                    "rerankers includes 'tuned' but tuned is not set: add tuned=outputs/train/<run> "
                    "(a train run directory) or tuned=/path/to/model"
                )
            name, spec = "tuned", str(_tuned_model_dir(str(tuned)))
            _check_local_cross_encoder(spec, f"tuned={tuned}")
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


def reranked_first_stages(cfg) -> list[str]:
    """The first stages whose top-k the rerankers reorder: eval.rerank_first_stages, else all eval.first_stages."""
    wanted = _get(cfg, "eval.rerank_first_stages", None)
    return [str(n) for n in (wanted if wanted is not None else _get(cfg, "eval.first_stages", ["bm25", "dense"]))]


def read_fusion(tuned: str | None) -> dict | None:
    """The fusion.json a train run wrote next to its model (None when there is none)."""
    import json

    if not tuned:
        return None
    p = Path(str(tuned)).expanduser()
    for f in (p / "fusion.json", p.parent / "fusion.json"):
        if f.is_file():
            try:
                return json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise ModelError(f"{f} is unreadable ({e}); delete it or re-run training") from None
    return None


# ----------------------------------------------------------------------------- defaults wired to the other modules


def _default_first_stage_runs(cfg, dataset, names: list[str], query_ids: list[str], depth: int) -> tuple[dict[str, Run], dict]:
    from rerankft.retrieval import build_first_stage

    runs, described = {}, {}
    for name in names:
        retriever = build_first_stage(name, cfg, _get(cfg, "cache_dir", None))
        log.info("first stage %s: top %d for %d queries", name, depth, len(query_ids))
        t0 = time.perf_counter()
        runs[name] = retriever.retrieve(dataset, query_ids, k=depth)
        described[name] = {**(retriever.describe() or {}), "seconds": round(time.perf_counter() - t0, 3)}
        del retriever
        gc.collect()
    return runs, described


def _default_reranker_factory(cfg) -> Callable[[str], object]:
    def make(spec: str):
        from rerankft.rerank import Reranker

        cache = _get(cfg, "cache_dir", None) if _get(cfg, "rerank.cache", False) else None
        # A bi-encoder checkpoint used as `base` gets a freshly initialised scoring head: seed it,
        # or two benchmark runs of the same model report different numbers.
        import torch

        torch.manual_seed(int(_get(cfg, "eval.seed", 0)))
        return Reranker(
            spec,  # Reranker resolves the name itself (and knows the packaged base may have a fresh head)
            backend=_get(cfg, "rerank.backend", "torch"),
            max_length=_get(cfg, "rerank.max_length", None),
            batch_tokens=_get(cfg, "rerank.batch_tokens", 16384),
            cache_dir=cache,
            precision=_get(cfg, "rerank.precision", "fp32"),
        )

    return make


# ----------------------------------------------------------------------------- the benchmark


def safe_filename(system: str) -> str:
    """'bm25>>cross-encoder/x' -> 'bm25__cross-encoder_x' (portable, no separators)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", system.replace(SEP, "__")).strip("._") or "system"


def _stats_delta(before: Mapping, after: Mapping) -> dict:
    """Reranker.stats are cumulative over calls: the counts of one call are after - before (ratios are dropped)."""
    out = {}
    for key, value in after.items():
        if key == "pairs_per_s":
            continue
        if key in _COUNTERS and isinstance(before.get(key), (int, float)):
            out[key] = value - before[key]
        else:
            out[key] = value  # settings (device, backend, max_length) are reported as they are
    return out


_COUNTERS = ("pairs", "scored", "cache_hits", "batches", "truncated_pairs", "seconds")


def run_benchmark(
    cfg,
    dataset,
    rerankers: Mapping[str, str],
    out_dir,
    *,
    first_stage_runs: Mapping[str, Run] | None = None,
    reranker_factory: Callable[[str], object] | None = None,
    fusion: Mapping[str, Mapping[str, float]] | None = None,
) -> dict:
    """Benchmark first stages, ``rerankers`` ({name: model}) on their top-k, and oracles; write every output.

    ``fusion`` ({reranker name: {first stage: weight}}, see :mod:`rerankft.fusion`) adds a
    system ``<fs>>><name>+fusion`` that reuses the reranker's scores (no extra model calls).
    ``first_stage_runs`` ({name: run}) and ``reranker_factory`` (model spec -> object with
    ``rerank_run`` and ``stats``) replace retrieval and model loading, for tests.
    Returns the metrics.json dict (also written to ``out_dir/metrics.json``).
    """
    out_dir = Path(out_dir)
    split = str(_get(cfg, "eval.split", "test"))
    measures = [str(m) for m in _get(cfg, "eval.measures", ["nDCG@10", "RR@10", "R@10", "R@100"])]
    parse_measures(measures)  # fail on a bad measure name before any retrieval
    top_k = int(_get(cfg, "rerank.top_k", 100))
    alpha = float(_get(cfg, "eval.significance_alpha", 0.05))
    n_boot = int(_get(cfg, "eval.bootstrap_samples", 1000))
    n_perm = int(_get(cfg, "eval.permutations", 10000))
    seed = int(_get(cfg, "eval.seed", 0))
    qrels = dataset.split(split)
    query_ids = list(qrels)
    # Deep enough that R@100 of a first stage is real even when only the top 20 are reranked.
    depth = max([top_k] + [c for c in (measure_cutoff(m) for m in measures) if c])

    # 1-2. First stages once; their top-k are the candidates every reranker gets.
    if first_stage_runs is None:
        names = [str(n) for n in _get(cfg, "eval.first_stages", ["bm25", "dense"])]
        if not names:
            raise ConfigError("eval.first_stages is empty: give at least one of bm25, dense")
        fs_runs, fs_info = _default_first_stage_runs(cfg, dataset, names, query_ids, depth)
    else:
        fs_runs, fs_info = dict(first_stage_runs), {n: {"source": "given"} for n in first_stage_runs}
    candidates = {fs: truncate_run(run, top_k) for fs, run in fs_runs.items()}
    # Which first stages' candidates the rerankers see (default: all). Reranking costs the same for
    # each first stage, so a time-boxed run can rerank one and still report the others alone.
    wanted = _get(cfg, "eval.rerank_first_stages", None)
    reranked_fs = [fs for fs in fs_runs if wanted is None or fs in [str(w) for w in wanted]]
    if wanted is not None and not reranked_fs:
        raise ConfigError(f"eval.rerank_first_stages={list(wanted)} names none of the first stages {list(fs_runs)}")
    n_candidates = {fs: sum(len(v) for v in c.values()) for fs, c in candidates.items()}

    fusion = {n: dict(w) for n, w in (fusion or {}).items() if n in rerankers}
    # Reranker names as systems: each reranker, then its fused variant when it has one.
    names = [x for n in rerankers for x in ([n, f"{n}{FUSED}"] if n in fusion else [n])]

    rankings: dict[str, dict[str, list[str]]] = {}
    for fs, run in fs_runs.items():
        rankings[fs] = {q: ranked_ids(run[q]) for q in run}
        rankings[f"{fs}{SEP}{ORACLE}"] = oracle_rankings(run, qrels, top_k)

    # 3. Rerankers: one model load each, the same candidates for each first stage.
    cost: dict[str, dict] = {}
    factory = reranker_factory or _default_reranker_factory(cfg)
    for name, spec in rerankers.items():
        log.info("reranker %s: %s", name, spec)
        reranker = factory(spec)
        for fs in reranked_fs:
            system = f"{fs}{SEP}{name}"
            before = dict(getattr(reranker, "stats", {}) or {})
            t0 = time.perf_counter()
            reranked = reranker.rerank_run(dataset, candidates[fs], top_k, query_ids=query_ids, desc=system)
            wall = time.perf_counter() - t0
            used = _stats_delta(before, dict(getattr(reranker, "stats", {}) or {}))
            rankings[system] = rerank_with_tail(fs_runs[fs], reranked, top_k)
            pairs = int(used.get("pairs", n_candidates[fs]))
            cost[system] = {
                # Wall time of the whole rerank_run call (pair building, tokenizing, model, cache look-ups).
                "wall_s": round(wall, 3),
                "ms_per_query": round(1000 * wall / max(1, len(query_ids)), 2),
                "pairs": pairs,
                "pairs_per_s": round(pairs / wall, 1) if wall > 0 else None,
                "scored_pairs": used.get("scored"),  # run through the model (not cache hits, not duplicates)
                "cache_hits": used.get("cache_hits"),
                "truncated_pairs": used.get("truncated_pairs"),
                "backend": used.get("backend"),
                "precision": used.get("precision"),
                "device": used.get("device"),
                "max_length": used.get("max_length"),
                "model": spec,
            }
            weight = fusion.get(name, {}).get(fs)
            if weight is not None:
                fused = f"{fs}{SEP}{name}{FUSED}"
                rankings[fused] = rerank_with_tail(fs_runs[fs], fuse(reranked, candidates[fs], float(weight)), top_k)
                cost[fused] = {**cost[system], "fusion_weight": float(weight)}
        del reranker
        gc.collect()

    # Table order: each first stage, its rerankers, then its oracle.
    systems = []
    for fs in fs_runs:
        systems += [fs] + [f"{fs}{SEP}{n}" for n in names if f"{fs}{SEP}{n}" in rankings] + [f"{fs}{SEP}{ORACLE}"]

    # 4-5. Scores, intervals, tests, headroom.
    eval_runs = {s: run_from_rankings(rankings[s]) for s in systems}
    scores, per_query, ci = {}, {}, {}
    for s in systems:
        scores[s], per_query[s] = evaluate_run(qrels, eval_runs[s], measures)
        ci[s] = {m: list(bootstrap_ci([per_query[s][m][q] for q in query_ids], n_boot, 0.95, seed)) for m in measures}

    # The share of relevant documents a reranker can possibly see: the first stage's recall at top_k.
    candidate_recall = {fs: evaluate_run(qrels, eval_runs[fs], [f"R@{top_k}"])[0][f"R@{top_k}"] for fs in fs_runs}

    comparisons = []
    for fs in reranked_fs:
        for name in names:
            system = f"{fs}{SEP}{name}"
            if system not in rankings:
                continue
            baselines = [(fs, "first_stage")]
            if name != "base" and "base" in rerankers:
                baselines.append((f"{fs}{SEP}base", "base"))
            if name.endswith(FUSED):  # what fusion adds over the reranker alone
                baselines.append((system[: -len(FUSED)], "unfused"))
            # A reranker must also beat the other first stages alone to be worth its cost.
            baselines += [(other, "other_first_stage") for other in fs_runs if other != fs]
            for baseline, kind in baselines:
                for m in measures:
                    a = [per_query[system][m][q] for q in query_ids]
                    b = [per_query[baseline][m][q] for q in query_ids]
                    comparisons.append({
                        "system": system, "baseline": baseline, "kind": kind, "measure": m,
                        "delta": scores[system][m] - scores[baseline][m],
                        "p": paired_randomization_test(a, b, n_perm, seed),
                        "p_ttest": paired_t_test(a, b),
                        "wins": sum(x > y for x, y in zip(a, b)), "losses": sum(x < y for x, y in zip(a, b)),
                    })
    for c, p_adj in zip(comparisons, holm_bonferroni([c["p"] for c in comparisons])):
        c["p_holm"] = p_adj
        c["significant"] = bool(p_adj < alpha)

    headroom: dict[str, dict[str, float | None]] = {}
    for fs in reranked_fs:
        oracle = f"{fs}{SEP}{ORACLE}"
        for name in names:
            system = f"{fs}{SEP}{name}"
            if system not in rankings:
                continue
            headroom[system] = {}
            for m in measures:
                gap = scores[oracle][m] - scores[fs][m]
                headroom[system][m] = (scores[system][m] - scores[fs][m]) / gap if gap > 1e-12 else None

    metrics = {
        "dataset": dataset.name,
        "split": split,
        "top_k": top_k,
        "queries": len(query_ids),
        "measures": measures,
        "systems": {s: {m: float(scores[s][m]) for m in measures} for s in systems},
        "ci95": ci,
        "comparisons": comparisons,
        "headroom": headroom,
        "cost": cost,
        "rerankers": {**dict(rerankers), **{f"{n}{FUSED}": rerankers[n] for n in fusion}},
        "fusion": {f"{n}{FUSED}": {"reranker": n, "weights": w} for n, w in fusion.items()},
        "first_stages": {
            fs: {**fs_info.get(fs, {}), "depth": depth, "candidates": n_candidates[fs], "recall_at_top_k": candidate_recall[fs]}
            for fs in fs_runs
        },
        "statistics": {
            "test": "paired randomization (sign-flip) test on the mean per-query difference, two-sided",
            "correction": f"Holm-Bonferroni over all {len(comparisons)} comparisons in this report",
            "alpha": alpha, "permutations": n_perm, "bootstrap": f"percentile, {n_boot} resamples over queries",
            "seed": seed,
        },
        "notes": {
            "recall_ceiling": (
                f"Rerankers reorder only the first stage's top {top_k}; documents below are kept in first-stage order "
                f"and missed positives are never added, so Recall@k for k >= {top_k} equals the first stage's (its ceiling)."
            ),
            "missing_queries": "queries without any retrieved document score 0 on every measure",
            "run_scores": "runs/*.trec carry rank-derived scores so any evaluator reproduces exactly the order evaluated",
        },
    }

    # 6. Outputs (each written atomically).
    used_names: set[str] = set()
    for s in systems:
        fname = safe_filename(s)
        while fname in used_names:
            fname += "_"
        used_names.add(fname)
        write_trec(out_dir / "runs" / f"{fname}.trec", eval_runs[s], tag=safe_filename(s))
    report.write_per_query_tsv(out_dir / "per_query.tsv", per_query, query_ids)
    table = report.write_report(out_dir, metrics, per_query, query_ids)
    write_json(out_dir / "metrics.json", metrics)
    log.info("benchmark on %s/%s (%d queries, top-%d):\n%s", dataset.name, split, len(query_ids), top_k, table)
    return metrics


def write_trec(path: Path, run: Run, tag: str) -> Path:
    """TREC run format: ``qid Q0 docid rank score tag``, best first (written atomically)."""
    lines = []
    for q, docs in run.items():
        for rank, d in enumerate(ranked_ids(docs), start=1):
            lines.append(f"{q} Q0 {d} {rank} {docs[d]:.6g} {tag}")
    return write_text(path, "\n".join(lines) + ("\n" if lines else ""))
