"""The benchmark: first stages, rerankers of the same candidates, oracles, statistics, cost, outputs.

Read top to bottom, ``run_benchmark`` does:

1. retrieve each first stage ONCE for the test queries (deep enough for every measure cutoff), and
   cut it to its top-k: these candidate lists are what EVERY reranker gets;
2. rerank them with each reranker (one model load per reranker), timing it;
3. build the oracle of each first stage (its top-k sorted by the qrels);
4. score every system per query, add bootstrap CIs, paired tests (Holm-corrected) and headroom;
5. write metrics.json, per_query.tsv, runs/*.trec, report.md and report.png atomically.

A reranker's final ranking is its order of the top-k followed by the first stage's tail (below rank k) in first-stage
order: positives the first stage missed are never injected, so Recall@k for k >= top_k is every reranker's ceiling.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from rerankft.core import distributed
from rerankft.core.errors import ConfigError
from rerankft.core.io import write_json
from rerankft.core.metrics import evaluate_run, measure_cutoff, parse_measures
from rerankft.core.runs import (
    Run,
    ranked_ids,
    run_from_rankings,
    truncate_run,
    write_trec_run,
)
from rerankft.core.settings import select
from rerankft.core.systems import FUSED, ORACLE, SEP, is_reranked, system
from rerankft.evaluation import report
from rerankft.evaluation.compare import compare_systems, headroom
from rerankft.evaluation.cost import cost_record, latency_sample, query_latency
from rerankft.evaluation.fusion_fit import signal_runs
from rerankft.evaluation.rankings import oracle_rankings, rerank_with_tail
from rerankft.evaluation.rerankers import (
    first_stage_names,
    make_reranker_factory,
    rerank_shared,
    retrieve_first_stages,
)
from rerankft.evaluation.stats import bootstrap_ci
from rerankft.retrieval.factory import build_signal, rerankable
from rerankft.scoring.fusion import fuse, fuse_signals
from rerankft.scoring.reranker import STAT_COUNTERS

log = logging.getLogger("rerankft")


@dataclass
class Settings:
    """The benchmark's part of the config (``eval.*``, ``rerank.top_k``), read once."""

    split: str
    measures: list[str]
    top_k: int
    alpha: float
    n_boot: int
    n_perm: int
    seed: int
    latency_queries: int = 10

    @classmethod
    def from_config(cls, cfg) -> "Settings":
        measures = [str(m) for m in select(cfg, "eval.measures", ["nDCG@10", "RR@10", "R@10", "R@100"])]
        parse_measures(measures)  # fail on a bad measure name before any retrieval
        return cls(
            split=str(select(cfg, "eval.split", "test")),
            measures=measures,
            top_k=int(select(cfg, "rerank.top_k", 100)),
            alpha=float(select(cfg, "eval.significance_alpha", 0.05)),
            n_boot=int(select(cfg, "eval.bootstrap_samples", 1000)),
            n_perm=int(select(cfg, "eval.permutations", 10000)),
            seed=int(select(cfg, "eval.seed", 0)),
            latency_queries=int(select(cfg, "eval.latency_queries", 10)),
        )

    @property
    def depth(self) -> int:
        """Deep enough that R@100 of a first stage is real even when only the top 20 are reranked."""
        return max([self.top_k] + [c for c in (measure_cutoff(m) for m in self.measures) if c])


def safe_filename(name: str) -> str:
    """'bm25>>cross-encoder/x' -> 'bm25__cross-encoder_x' (portable, no separators)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace(SEP, "__")).strip("._") or "system"


def first_reranked_system(metrics: dict) -> str:
    """The first reranker's system in a metrics.json (the first system when nothing was reranked)."""
    systems = metrics["systems"]
    return next((s for s in systems if is_reranked(s)), next(iter(systems)))


def _stats_delta(before: Mapping, after: Mapping) -> dict:
    """Reranker.stats are cumulative over calls: the counts of one call are after - before (ratios are dropped)."""
    out = {}
    for key, value in after.items():
        if key == "pairs_per_s":
            continue
        if key in STAT_COUNTERS and isinstance(before.get(key), (int, float)):
            out[key] = value - before[key]
        else:
            out[key] = value  # settings (device, backend, max_length) are reported as they are
    return out


def _reranked_first_stages(cfg, fs_runs: Mapping[str, Run], chosen: str | None = None) -> list[str]:
    """Which first stages' candidates the rerankers see (default: all; ``dev``: the one chosen on dev).

    Reranking costs the same for each first stage, so a time-boxed run can rerank one and still
    report the others alone. Unless named, one that re-orders another's candidates (prf) is not reranked.
    """
    wanted = select(cfg, "eval.rerank_first_stages", None)
    if wanted == "dev":
        # The candidates whose tuned (or fused) ranking did best on the dev queries; without a
        # dev choice (eval of a model without fusion.json) every first stage is reranked.
        return [chosen] if chosen in fs_runs else rerankable(fs_runs)
    reranked = rerankable(fs_runs) if wanted is None else [fs for fs in fs_runs if fs in [str(w) for w in wanted]]
    if wanted is not None and not reranked:
        raise ConfigError(f"eval.rerank_first_stages={list(wanted)} names none of the first stages {list(fs_runs)}")
    return reranked


def _fused_scores(cfg, dataset, reranked: Run, candidates: Run, weight, signal_models: Mapping[str, str]) -> Run:
    """A fitted fusion applied to test scores: a float is the old single first-stage weight, a dict
    weights the exact BM25 / dense scores of every candidate (:mod:`rerankft.evaluation.fusion_fit`),
    the dense one from the run's fine-tuned bi-encoder where ``signal_models`` names it."""
    if not isinstance(weight, Mapping):
        return fuse(reranked, candidates, float(weight))
    used = {n: build_signal(n, cfg, select(cfg, "cache_dir", None), signal_models.get(n)) for n, w in weight.items() if float(w) > 0}
    return fuse_signals(reranked, signal_runs(dataset, candidates, used), weight)


def _rerank_all(cfg, dataset, rerankers, factory, fs_runs, candidates, reranked_fs, fusion, s: Settings, query_ids,
                signal_models: Mapping[str, str]):
    """Every reranker over every reranked first stage's candidates: (rankings, cost) per system."""
    rankings: dict[str, dict[str, list[str]]] = {}
    cost: dict[str, dict] = {}
    for name, spec in rerankers.items():
        log.info("reranker %s: %s", name, spec)
        reranker = factory(spec)
        for fs in reranked_fs:
            sys_name = system(fs, name)
            reranked, cost[sys_name] = _rerank_timed(reranker, dataset, candidates[fs], s, query_ids, sys_name, spec)
            rankings[sys_name] = rerank_with_tail(fs_runs[fs], reranked, s.top_k)
            weight = fusion.get(name, {}).get(fs)
            if weight is not None:
                fused = f"{sys_name}{FUSED}"
                scores = _fused_scores(cfg, dataset, reranked, candidates[fs], weight, signal_models)
                rankings[fused] = rerank_with_tail(fs_runs[fs], scores, s.top_k)
                cost[fused] = {**cost[sys_name], "fusion_weight": weight if isinstance(weight, Mapping) else float(weight)}
        del reranker
        gc.collect()
    return rankings, cost


def _rerank_timed(reranker, dataset, candidates: Run, s: Settings, query_ids, sys_name: str, spec: str) -> tuple[Run, dict]:
    """One reranker over one first stage's candidates: the reranked run and its cost record (throughput, latency).

    In one process the latency sample's queries are reranked one at a time (score cache off) and those
    scores are the benchmark's: every pair is scored once. Under `accelerate launch` each process scores
    its share of the queries (rerank_shared) and rank 0 then times the sample alone while the others wait.
    """
    before = dict(getattr(reranker, "stats", {}) or {})
    single = distributed.world_size() == 1
    sample = latency_sample(candidates, query_ids, s.latency_queries)
    alone = sample if single else []
    skip = set(alone)
    batched = [q for q in query_ids if q not in skip]
    t0 = time.perf_counter()
    reranked = rerank_shared(reranker, dataset, candidates, s.top_k, batched, desc=sys_name)
    latency, alone_run = query_latency(reranker, dataset, candidates, s.top_k, alone)
    wall = time.perf_counter() - t0  # after the gather: the slowest rank's time
    used = distributed.sum_counts(_stats_delta(before, dict(getattr(reranker, "stats", {}) or {})))
    reranked = {**reranked, **alone_run}
    n_candidates = sum(len(v) for v in candidates.values())
    record = {**cost_record(wall, used, len(query_ids), n_candidates, spec), "processes": distributed.world_size()}
    if not single:  # latency is one query on one process
        latency = query_latency(reranker, dataset, candidates, s.top_k, sample)[0] if distributed.rank() == 0 else None
        distributed.barrier()
    if latency:
        record["latency"] = latency
    return reranked, record


def _score_systems(qrels, rankings, systems, s: Settings, query_ids):
    """Per-system aggregate scores, per-query scores, bootstrap CIs and the runs that were evaluated."""
    eval_runs = {name: run_from_rankings(rankings[name]) for name in systems}
    scores, per_query, ci = {}, {}, {}
    for name in systems:
        scores[name], per_query[name] = evaluate_run(qrels, eval_runs[name], s.measures)
        ci[name] = {m: list(bootstrap_ci([per_query[name][m][q] for q in query_ids], s.n_boot, 0.95, s.seed))
                    for m in s.measures}
    return scores, per_query, ci, eval_runs


def run_benchmark(
    cfg,
    dataset,
    rerankers: Mapping[str, str],
    out_dir,
    *,
    first_stage_runs: Mapping[str, Run] | None = None,
    reranker_factory: Callable[[str], object] | None = None,
    fusion: Mapping[str, Mapping[str, float]] | None = None,
    selection: Mapping | None = None,
) -> dict:
    """Benchmark first stages, ``rerankers`` ({name: model}) on their top-k, and oracles; write every output.

    ``fusion`` ({reranker name: {first stage: weight}}, see :mod:`rerankft.scoring.fusion`) adds a
    system ``<fs>>><name>+fusion`` that reuses the reranker's scores (no extra model calls).
    ``selection`` (a train run's fusion.json: the dev queries' choices) names the candidates to
    rerank under ``eval.rerank_first_stages=dev`` and the **final system**, chosen on dev, which
    metrics.json reports under ``final`` with its test figures.
    ``first_stage_runs`` ({name: run}) and ``reranker_factory`` (spec -> object with ``rerank_run``,
    ``stats``) replace retrieval and model loading, for tests. Returns the metrics.json dict (also
    written to ``out_dir/metrics.json``); under ``accelerate launch`` only rank 0 writes and returns it.
    """
    s = Settings.from_config(cfg)
    qrels = dataset.split(s.split)
    query_ids = list(qrels)

    # 1-2. First stages once; their top-k are the candidates every reranker gets.
    selection = dict(selection or {})
    fs_runs, fs_info = _first_stages(cfg, dataset, query_ids, s, first_stage_runs, selection.get("signal_models"))
    candidates = {fs: truncate_run(run, s.top_k) for fs, run in fs_runs.items()}
    reranked_fs = _reranked_first_stages(cfg, fs_runs, selection.get("candidates"))
    fusion = {n: dict(w) for n, w in (fusion or {}).items() if n in rerankers}

    # 3-4. Rerankers (one model load each, the same candidates for each first stage) and oracles.
    factory = reranker_factory or make_reranker_factory(cfg)
    rankings, cost = _rerank_all(cfg, dataset, rerankers, factory, fs_runs, candidates, reranked_fs, fusion, s, query_ids,
                                 selection.get("signal_models") or {})
    if distributed.rank() != 0:  # rank 0 holds every rank's share: it writes the one report
        return {}
    for fs, run in fs_runs.items():
        rankings[fs] = {q: ranked_ids(run[q]) for q in run}
        rankings[system(fs, ORACLE)] = oracle_rankings(run, qrels, s.top_k)
    names, systems = _system_order(fs_runs, rerankers, fusion, rankings)

    # 5. Scores, intervals, tests, headroom.
    scores, per_query, ci, eval_runs = _score_systems(qrels, rankings, systems, s, query_ids)
    # The share of relevant documents a reranker can possibly see: the first stage's recall at top_k.
    candidate_recall = {fs: evaluate_run(qrels, eval_runs[fs], [f"R@{s.top_k}"])[0][f"R@{s.top_k}"] for fs in fs_runs}
    reranked_systems = [(fs, n) for fs in reranked_fs for n in names if system(fs, n) in rankings]
    comparisons = compare_systems(reranked_systems, list(fs_runs), rerankers, scores, per_query, query_ids, s)

    metrics = {
        "dataset": dataset.name,
        "split": s.split,
        "top_k": s.top_k,
        "queries": len(query_ids),
        "measures": s.measures,
        "systems": {name: {m: float(scores[name][m]) for m in s.measures} for name in systems},
        "ci95": ci,
        "comparisons": comparisons,
        "headroom": headroom(reranked_systems, scores, s.measures),
        "cost": cost,
        "rerankers": {**dict(rerankers), **{f"{n}{FUSED}": rerankers[n] for n in fusion}},
        "fusion": {f"{n}{FUSED}": {"reranker": n, "weights": w, **_signal_models(selection)} for n, w in fusion.items()},
        "first_stages": {
            fs: {**fs_info.get(fs, {}), "depth": s.depth, "candidates": sum(len(v) for v in candidates[fs].values()),
                 "recall_at_top_k": candidate_recall[fs]}
            for fs in fs_runs
        },
        "final": _final(selection, scores, systems, s.measures),
        "statistics": _statistics_note(s, len(comparisons)),
        "notes": _notes(s.top_k),
    }
    # 6. Outputs (each written atomically).
    write_outputs(Path(out_dir), metrics, eval_runs, per_query, query_ids)
    return metrics


def _first_stages(cfg, dataset, query_ids, s: Settings, given: Mapping[str, Run] | None,
                  models: Mapping[str, str] | None = None) -> tuple[dict[str, Run], dict]:
    """Each first stage's run for the benchmarked queries, retrieved once (or the runs given, for tests);
    with a run's fine-tuned bi-encoder (``models``), its ``-ft`` first stages too."""
    if given is not None:
        return dict(given), {n: {"source": "given"} for n in given}
    names = first_stage_names(cfg, models)
    if not names:
        raise ConfigError("eval.first_stages is empty: give at least one of bm25, dense")
    return retrieve_first_stages(cfg, dataset, names, query_ids, s.depth, models)


def _signal_models(selection: Mapping) -> dict:
    """``{"signal_models": {...}}`` where a run's fused systems read their own models (bi_encoder=mnrl), else {}."""
    models = dict(selection.get("signal_models") or {})
    return {"signal_models": models} if models else {}


def _system_order(fs_runs, rerankers, fusion, rankings) -> tuple[list[str], list[str]]:
    """Reranker names (each, then its fused variant) and the table order: each first stage, its rerankers, its oracle."""
    names = [x for n in rerankers for x in ([n, f"{n}{FUSED}"] if n in fusion else [n])]
    systems = []
    for fs in fs_runs:
        systems += [fs] + [system(fs, n) for n in names if system(fs, n) in rankings] + [system(fs, ORACLE)]
    return names, systems


def _final(selection: Mapping, scores, systems: list[str], measures: list[str]) -> dict | None:
    """The system chosen on dev with its test figures; None when nothing was chosen on dev (no test-based fallback)."""
    name = selection.get("final")
    if not name:
        return None
    if name not in systems:
        log.warning("the final system chosen on dev, %s, is not among the benchmarked systems %s", name, systems)
        return {"system": name, "chosen_on": "dev", "test": None}
    dev, agreement = selection.get("dev_ndcg@10", {}), None
    both = [n for n in dev if n in scores and "nDCG@10" in scores[n]]
    if len(both) >= 3:  # how far the dev ranking of systems predicts the test ranking (Kendall's tau-b)
        from scipy.stats import kendalltau

        tau = kendalltau([dev[n] for n in both], [scores[n]["nDCG@10"] for n in both]).statistic
        agreement = {"systems": len(both), "kendall_tau": None if tau != tau else round(float(tau), 4)}
    n, folds = selection.get("dev_queries"), selection.get("dev_folds")  # dev.folds: all training queries, cross-fitted
    where = f"{n} training queries, each scored by the fold model (of {folds}) that did not train on it" if folds else f"{n} queries carved from the training split"
    return {"system": name, "chosen_on": f"dev ({where})",
            "dev_ndcg@10": dev.get(name), "dev_vs_test_ndcg@10": {n: [dev[n], float(scores[n]["nDCG@10"])] for n in both},
            "dev_test_agreement": agreement, "dev_stability": (selection.get("final_stability") or {}).get("share"),
            "rule": selection.get("final_rule"),
            "test": {m: float(scores[name][m]) for m in measures}}


def _statistics_note(s: Settings, n_comparisons: int) -> dict:
    return {
        "test": "paired randomization (sign-flip) test on the mean per-query difference, two-sided",
        "correction": f"Holm-Bonferroni over all {n_comparisons} comparisons in this report",
        "alpha": s.alpha, "permutations": s.n_perm, "bootstrap": f"percentile, {s.n_boot} resamples over queries",
        "seed": s.seed,
    }


def _notes(top_k: int) -> dict:
    return {
        "recall_ceiling": (
            f"Rerankers reorder only the first stage's top {top_k}; documents below are kept in first-stage order "
            f"and missed positives are never added, so Recall@k for k >= {top_k} equals the first stage's (its ceiling)."
        ),
        "missing_queries": "queries without any retrieved document score 0 on every measure",
        "run_scores": "runs/*.trec carry rank-derived scores so any evaluator reproduces exactly the order evaluated",
    }


def write_outputs(out_dir: Path, metrics: dict, eval_runs: dict[str, Run], per_query: dict, query_ids: list[str]) -> None:
    """runs/*.trec, per_query.tsv, report.md/png and metrics.json, each written atomically."""
    used_names: set[str] = set()
    for name in metrics["systems"]:
        fname = safe_filename(name)
        while fname in used_names:
            fname += "_"
        used_names.add(fname)
        write_trec_run(eval_runs[name], out_dir / "runs" / f"{fname}.trec", tag=safe_filename(name))
    report.write_per_query_tsv(out_dir / "per_query.tsv", per_query, query_ids)
    table = report.write_report(out_dir, metrics, per_query, query_ids)
    write_json(out_dir / "metrics.json", metrics)
    log.info("benchmark on %s/%s (%d queries, top-%d):\n%s", metrics["dataset"], metrics["split"], len(query_ids),
             metrics["top_k"], table)
