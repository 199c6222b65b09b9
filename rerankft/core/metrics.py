"""Ranking metrics through ir_measures, over every judged query, plus the run helpers the benchmark needs.

``evaluate_run`` is the one place numbers are computed. Two things ir_measures does not
decide for us and that change the numbers, so they are fixed here:

* queries in the qrels that a run has no line for count as 0 (a system that returns
  nothing for a query failed it; skipping the query would flatter the system), and
* rankings are made explicit: the runs built here carry rank-derived scores, so the order
  evaluated is exactly the order we built, whatever the tie-breaking of the evaluator.
"""

from __future__ import annotations

from typing import Iterable

import ir_measures

from rerankft.core.errors import ConfigError
from rerankft.core.runs import Qrels, Run


def parse_measures(names: Iterable[str]) -> dict[str, object]:
    """Config strings ("nDCG@10", "RR@10", "R@100", "AP", ...) -> ir_measures measures, keyed by the string."""
    out: dict[str, object] = {}
    for name in names:
        try:
            out[str(name)] = ir_measures.parse_measure(str(name))
        except Exception as e:  # noqa: BLE001 - ir_measures raises several types for a bad name
            raise ConfigError(
                f"eval.measures: '{name}' is not an ir_measures measure ({e}); use e.g. nDCG@10, RR@10, R@100, AP, P@5"
            ) from None
    if not out:
        raise ConfigError("eval.measures is empty: give at least one measure, e.g. [nDCG@10, RR@10, R@10, R@100]")
    return out


def measure_cutoff(name: str) -> int | None:
    """The rank cutoff of a measure (10 for nDCG@10), None when it has none."""
    cutoff = parse_measures([name])[name].params.get("cutoff")
    return int(cutoff) if cutoff is not None else None


def evaluate_run(qrels: Qrels, run: Run, measures: list[str]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Score ``run`` against graded ``qrels``.

    Returns ``(aggregate, per_query)``: ``aggregate[measure]`` is the mean over ALL queries
    of ``qrels`` (a query missing from the run scores 0), ``per_query[measure][qid]`` the
    value of each of those queries. Keys are the config strings in ``measures``.
    Relevance for binary measures (R@k, RR) is grade >= 1, ir_measures' default.
    """
    parsed = parse_measures(measures)
    by_measure = {m: name for name, m in parsed.items()}
    qids = list(qrels)
    per_query: dict[str, dict[str, float]] = {name: dict.fromkeys(qids, 0.0) for name in parsed}
    # Only the judged queries are evaluated; run lines for unjudged queries are ignored.
    sub_run = {q: {d: float(s) for d, s in run[q].items()} for q in qids if q in run and run[q]}
    if sub_run:
        for metric in ir_measures.iter_calc(list(parsed.values()), qrels, sub_run):
            name = by_measure.get(metric.measure)
            if name is not None and metric.query_id in per_query[name]:
                per_query[name][metric.query_id] = float(metric.value)
    aggregate = {name: (sum(v.values()) / len(v) if v else 0.0) for name, v in per_query.items()}
    return aggregate, per_query


def ndcg_at_10(qrels: Qrels, run: Run) -> float:
    """Mean nDCG@10 over *all* queries of ``qrels`` (a query the run misses counts 0): model selection's number."""
    return evaluate_run(qrels, run, ["nDCG@10"])[0]["nDCG@10"] if qrels else 0.0
