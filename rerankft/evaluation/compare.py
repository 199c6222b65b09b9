"""Paired comparisons between systems (randomization test, t-test, Holm) and headroom towards the oracle."""

from __future__ import annotations

from typing import Mapping

from rerankft.core.systems import FUSED, ORACLE, system
from rerankft.evaluation.stats import (
    holm_bonferroni,
    paired_randomization_test,
    paired_t_test,
)


def _baselines(fs: str, name: str, first_stages: list[str], rerankers: Mapping[str, str]) -> list[tuple[str, str]]:
    """What a reranked system is compared with, and the kind of each comparison."""
    out = [(fs, "first_stage")]
    if name != "base" and "base" in rerankers:
        out.append((system(fs, "base"), "base"))
    if name.endswith(FUSED):  # what fusion adds over the reranker alone
        out.append((system(fs, name[: -len(FUSED)]), "unfused"))
    # A reranker must also beat the other first stages alone to be worth its cost.
    out += [(other, "other_first_stage") for other in first_stages if other != fs]
    return out


def compare_systems(reranked: list[tuple[str, str]], first_stages: list[str], rerankers: Mapping[str, str],
                    scores: dict, per_query: dict, query_ids: list[str], s) -> list[dict]:
    """Every reranked system against its baselines on every measure; p-values Holm-adjusted over the whole list."""
    comparisons = []
    for fs, name in reranked:
        sys_name = system(fs, name)
        for baseline, kind in _baselines(fs, name, first_stages, rerankers):
            for m in s.measures:
                a = [per_query[sys_name][m][q] for q in query_ids]
                b = [per_query[baseline][m][q] for q in query_ids]
                comparisons.append({
                    "system": sys_name, "baseline": baseline, "kind": kind, "measure": m,
                    "delta": scores[sys_name][m] - scores[baseline][m],
                    "p": paired_randomization_test(a, b, s.n_perm, s.seed),
                    "p_ttest": paired_t_test(a, b),
                    "wins": sum(x > y for x, y in zip(a, b)), "losses": sum(x < y for x, y in zip(a, b)),
                })
    for c, p_adj in zip(comparisons, holm_bonferroni([c["p"] for c in comparisons])):
        c["p_holm"] = p_adj
        c["significant"] = bool(p_adj < s.alpha)
    return comparisons


def headroom(reranked: list[tuple[str, str]], scores: dict, measures: list[str]) -> dict[str, dict[str, float | None]]:
    """The share of the gap between a first stage and its oracle that each reranker closes (None without a gap)."""
    out: dict[str, dict[str, float | None]] = {}
    for fs, name in reranked:
        sys_name, oracle = system(fs, name), system(fs, ORACLE)
        out[sys_name] = {}
        for m in measures:
            gap = scores[oracle][m] - scores[fs][m]
            out[sys_name][m] = (scores[sys_name][m] - scores[fs][m]) / gap if gap > 1e-12 else None
    return out
