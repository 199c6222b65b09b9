"""Metrics against hand-computed values, and the run helpers the benchmark relies on."""

import math

import pytest

from rerankft.core.errors import ConfigError
from rerankft.core.metrics import evaluate_run, parse_measures
from rerankft.core.runs import ranked_ids, run_from_rankings, truncate_run
from rerankft.evaluation.rankings import oracle_rankings, rerank_with_tail


def ranking_run(qid, docs):
    return run_from_rankings({qid: docs})


def test_rr_only_relevant_at_rank_3():
    qrels = {"q": {"d3": 1}}
    agg, per_q = evaluate_run(qrels, ranking_run("q", ["d1", "d2", "d3", "d4"]), ["RR@10"])
    assert agg["RR@10"] == pytest.approx(1 / 3)
    assert per_q["RR@10"] == {"q": pytest.approx(1 / 3)}


def test_rr_cutoff_and_threshold():
    # Relevant at rank 11 is outside RR@10; grade-0 judgements are not relevant.
    qrels = {"q": {"d11": 2, "d1": 0}}
    docs = [f"d{i}" for i in range(1, 12)]
    agg, _ = evaluate_run(qrels, ranking_run("q", docs), ["RR@10", "RR@100"])
    assert agg["RR@10"] == 0.0
    assert agg["RR@100"] == pytest.approx(1 / 11)


def test_ndcg_graded_by_hand():
    # ranks: d3 (unjudged), d1 (grade 2), d2 (grade 1); trec_eval gain = grade, discount log2(rank + 1)
    qrels = {"q": {"d1": 2, "d2": 1}}
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    agg, _ = evaluate_run(qrels, ranking_run("q", ["d3", "d1", "d2"]), ["nDCG@10"])
    assert agg["nDCG@10"] == pytest.approx(dcg / idcg)  # 0.6697
    assert agg["nDCG@10"] == pytest.approx(0.66967, abs=1e-4)


def test_recall_counts_grades_at_least_one():
    qrels = {"q": {"a": 3, "b": 1, "c": 0}}
    agg, _ = evaluate_run(qrels, ranking_run("q", ["c", "a", "x"]), ["R@10", "R@2", "R@1"])
    assert agg["R@10"] == pytest.approx(0.5)
    assert agg["R@2"] == pytest.approx(0.5)
    assert agg["R@1"] == 0.0


def test_missing_query_counts_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = ranking_run("q1", ["a"])  # q2 has no line at all
    agg, per_q = evaluate_run(qrels, run, ["RR@10", "nDCG@10"])
    assert per_q["RR@10"] == {"q1": 1.0, "q2": 0.0}
    assert agg["RR@10"] == pytest.approx(0.5)
    assert agg["nDCG@10"] == pytest.approx(0.5)


def test_unjudged_queries_in_run_are_ignored():
    qrels = {"q1": {"a": 1}}
    run = {**ranking_run("q1", ["a"]), **ranking_run("zz", ["a"])}
    agg, per_q = evaluate_run(qrels, run, ["RR@10"])
    assert set(per_q["RR@10"]) == {"q1"} and agg["RR@10"] == 1.0


def test_bad_measure_is_a_config_error():
    with pytest.raises(ConfigError, match="eval.measures"):
        parse_measures(["nDCG@10", "notameasure@@"])


def test_ranked_ids_breaks_ties_like_trec_eval():
    assert ranked_ids({"a": 1.0, "b": 1.0, "c": 2.0}) == ["c", "b", "a"]


def test_reranking_top_k_keeps_recall_at_top_k_and_tail():
    qrels = {"q": {"d2": 1, "d5": 2, "d7": 1}}  # d7 is below top-k, d9 relevant but never retrieved
    qrels["q"]["d9"] = 1
    first = ranking_run("q", [f"d{i}" for i in range(1, 9)])  # d1..d8
    top_k = 5
    cands = truncate_run(first, top_k)
    assert set(cands["q"]) == {"d1", "d2", "d3", "d4", "d5"}
    # A reranker that reverses the candidates, and (wrongly) invents a document: it must be ignored.
    reversed_scores = {d: float(i) for i, d in enumerate(ranked_ids(cands["q"]))}
    reranked = {"q": {**reversed_scores, "d9": 100.0}}
    final = rerank_with_tail(first, reranked, top_k)["q"]
    assert final == ["d5", "d4", "d3", "d2", "d1", "d6", "d7", "d8"]
    fs_agg, _ = evaluate_run(qrels, first, ["R@5", "R@8", "RR@10"])
    rr_agg, _ = evaluate_run(qrels, run_from_rankings({"q": final}), ["R@5", "R@8", "RR@10"])
    assert rr_agg["R@5"] == fs_agg["R@5"] and rr_agg["R@8"] == fs_agg["R@8"]
    assert rr_agg["RR@10"] == 1.0 and fs_agg["RR@10"] == pytest.approx(0.5)


def test_candidates_the_reranker_dropped_keep_their_place_after_the_reranked():
    first = ranking_run("q", ["a", "b", "c", "d"])
    final = rerank_with_tail(first, {"q": {"c": 1.0, "b": 2.0}}, top_k=3)["q"]
    assert final == ["b", "c", "a", "d"]


def test_oracle_sorts_top_k_by_grade_ties_keep_first_stage_order():
    qrels = {"q": {"c": 1, "e": 3, "d": 1, "b": 0}}
    first = ranking_run("q", ["a", "b", "c", "d", "e"])
    # e is below top_k=4: the oracle cannot lift it.
    assert oracle_rankings(first, qrels, top_k=4)["q"] == ["c", "d", "a", "b", "e"]
    assert oracle_rankings(first, qrels, top_k=5)["q"] == ["e", "c", "d", "a", "b"]
