"""What a reranker costs: the throughput of the benchmark's batched pass, and per-query latency.

Both go into metrics.json's ``cost`` (one record per reranked system); report.md prints them and
:mod:`rerankft.evaluation.latency` plots quality against the latency.
"""

from __future__ import annotations

import contextlib
import time

from rerankft.core.runs import Run


def cost_record(wall: float, used: dict, n_queries: int, n_candidates: int, spec: str) -> dict:
    """A reranker's cost on the benchmark's pass (the queries in batches, the latency sample one by one):
    wall time, pairs/s, and the scoring counters (``used``: the reranker's stats for this pass) that explain it."""
    pairs = int(used.get("pairs", n_candidates))
    return {
        # Wall time of the whole rerank_run call (pair building, tokenizing, model, cache look-ups).
        "wall_s": round(wall, 3),
        "ms_per_query": round(1000 * wall / max(1, n_queries), 2),
        "pairs": pairs,
        "pairs_per_s": round(pairs / wall, 1) if wall > 0 else None,
        "scored_pairs": used.get("scored"),  # run through the model (not cache hits, not duplicates)
        "cache_hits": used.get("cache_hits"),
        "truncated_pairs": used.get("truncated_pairs"),
        "long_docs": used.get("long_docs"),
        "windowed_passages": used.get("windowed_passages"),  # passages longer than one window (long_docs != truncate)
        "windows": used.get("windows"),  # the windows those passages were read as
        "backend": used.get("backend"),
        "precision": used.get("precision"),
        "device": used.get("device"),
        "max_length": used.get("max_length"),
        "model": spec,
    }


def latency_sample(candidates: Run, query_ids: list[str], n: int) -> list[str]:
    """The ``eval.latency_queries`` queries timed one at a time: the first ``n`` ids (sorted) that have candidates."""
    return [q for q in sorted(query_ids) if candidates.get(q)][:max(0, n)]


def query_latency(reranker, dataset, candidates: Run, top_k: int, qids: list[str]) -> tuple[dict | None, Run]:
    """Per-query latency as a search system sees it: each of ``qids``' top_k candidates reranked alone
    (one call per query, score cache off), in ms: p50, p95, max; and the reranked run of those queries.

    The benchmark's own wall time scores all queries' pairs together in length-sorted batches, which
    is throughput, not what one user's query waits for. The scores come back so that the benchmark
    uses them for these queries instead of scoring the same pairs a second time in its batched pass.
    """
    import numpy as np

    if not qids or not hasattr(reranker, "rerank_run"):
        return None, {}
    times, run = [], {}
    # uncached(): no score cache (a latency from cache hits measures SQLite) and no progress bars; every
    # reranker the benchmark builds has it (Reranker, Cascade, LibraryReranker).
    with (reranker.uncached() if hasattr(reranker, "uncached") else contextlib.nullcontext()):
        for q in qids:
            t0 = time.perf_counter()
            run.update(reranker.rerank_run(dataset, candidates, top_k, query_ids=[q]))
            times.append(1000 * (time.perf_counter() - t0))
    latency = {"queries": len(times), "p50_ms": round(float(np.percentile(times, 50)), 1),
               "p95_ms": round(float(np.percentile(times, 95)), 1), "max_ms": round(max(times), 1)}
    return latency, run
