"""What ``mining.json`` says about a mining run: counts, score distributions, skipped queries.
"""

from __future__ import annotations

import logging

import numpy as np

from rerankft.mining.rows import _by_query, _pairs

log = logging.getLogger(__name__)


def _dist(values) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return {"n": 0}
    q = np.quantile(v, [0.1, 0.25, 0.5, 0.75, 0.9])
    return {"n": int(len(v)), "mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4), "min": round(float(v.min()), 4),
            "q10": round(float(q[0]), 4), "q25": round(float(q[1]), 4), "median": round(float(q[2]), 4),
            "q75": round(float(q[3]), 4), "q90": round(float(q[4]), 4), "max": round(float(v.max()), 4)}


def _min_med_max(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "median": 0, "max": 0, "total": 0}
    return {"min": int(min(values)), "median": float(np.median(values)), "max": int(max(values)), "total": int(sum(values))}


def _report(result, retriever, cfg_miner, qids, skipped_queries, counts, random_stats, num_negatives, num_random,
            positives_in_skipped_top, positives_without_score, denoiser, range_min, range_max) -> dict:
    rows = result.rows
    by_q = _by_query(rows)
    per_query = [len({n for r in rs for n in r.negatives}) for rs in by_q.values()]
    per_query += [0] * (len(qids) - len(by_q))
    per_pos = [len(r.negatives) for r in rows]
    few_hard = sorted(q for q, rs in by_q.items() if any(r.n_hard < num_negatives for r in rs))
    few_total = sorted(q for q, rs in by_q.items() if any(len(r.negatives) < num_negatives + num_random for r in rs))
    pairs = _pairs(rows, result.dataset, None)
    n_pos = sum(1 for x in pairs["label"] if x == 1.0)
    n_neg = len(pairs["label"]) - n_pos
    hard_scores = [s for r in rows for s in r.negative_scores[: r.n_hard]]
    easy_scores = [s for r in rows for s in r.negative_scores[r.n_hard :]]
    scores = {
        "scorer": retriever.name,
        "positive": _dist([r.positive_score for r in rows]),
        "hard_negative": _dist(hard_scores),
        "random_negative": _dist(easy_scores),
    }
    # Paired view: the pooled means above can also differ because low-scoring positives get no hard
    # negatives at all (the margin removes them), so also say how negatives compare to their OWN positive.
    paired = [(r.positive_score, s) for r in rows for s in r.negative_scores[: r.n_hard] if np.isfinite(r.positive_score)]
    above = sum(1 for p, s in paired if s >= p)
    scores["hard_negatives_at_or_above_own_positive"] = {"count": above, "fraction": round(above / len(paired), 4) if paired else None}
    scores["mean_gap_own_positive_minus_hard_negative"] = round(float(np.mean([p - s for p, s in paired])), 4) if paired else None
    warnings = []
    pm, hm = scores["positive"].get("mean"), scores["hard_negative"].get("mean")
    if pm is not None and hm is not None and hm >= pm:
        msg = (f"mined hard negatives score higher than the judged positives on average ({hm:.3f} >= {pm:.3f}, {retriever.name} scores; "
               f"{above} of {len(paired)} score at or above their own positive): if that count is high, many are probably unjudged "
               "relevant documents: raise miner.range_min, set miner.relative_margin, or use miner.denoise.model. If it is 0, the gap "
               "comes from low-scoring positives that the margin left without hard negatives")
        log.warning(msg)
        warnings.append(msg)
    if few_total:
        log.warning("mining: %d of %d queries have a positive with fewer than %d negatives", len(few_total), len(qids), num_negatives + num_random)
    cfg_dump = cfg_miner
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(cfg_miner):
            cfg_dump = OmegaConf.to_container(cfg_miner, resolve=True)
    except Exception:  # noqa: BLE001 - a report should never fail on its config echo
        cfg_dump = dict(cfg_miner or {})
    window_candidates = sum(counts.values())
    return {
        "retriever": retriever.describe(),
        "miner": cfg_dump,
        "window": [range_min, range_max],
        "queries": len(qids),
        "queries_skipped_without_positive": skipped_queries,
        "positives": len(rows),
        "positives_in_skipped_top_ranks": positives_in_skipped_top,
        "positives_without_first_stage_score": positives_without_score,
        "candidates": {"window_candidates": window_candidates, "removed": {k: counts[k] for k in ("judged_positive", "margin", "max_score", "denoise")},
                       "kept": counts["kept"], "note": "one evaluation per (positive, window candidate); removed + kept = window_candidates"},
        "negatives": {
            "hard": sum(r.n_hard for r in rows),
            "random": sum(len(r.negatives) - r.n_hard for r in rows),
            "per_query": _min_med_max(per_query),
            "per_positive": _min_med_max(per_pos),
            "target_per_positive": num_negatives + num_random,
        },
        "random_negatives": random_stats,
        "denoise": {"model": denoiser.name, "threshold": denoiser.threshold, "pairs_scored": denoiser.pairs_scored} if denoiser else None,
        "queries_with_too_few_hard_negatives": {"count": len(few_hard), "examples": few_hard[:20]},
        "queries_with_too_few_negatives": {"count": len(few_total), "examples": few_total[:20]},
        "class_balance": {"format": "pairs", "positives": n_pos, "negatives": n_neg, "negatives_per_positive": round(n_neg / n_pos, 4) if n_pos else None},
        "scores": scores,
        "warnings": warnings,
    }
