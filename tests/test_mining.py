"""Hard-negative mining: judged positives never come back as negatives, filters count, formats, cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from rerankft.core.errors import ConfigError
from rerankft.data.dataset import RetrievalDataset
from rerankft.data.loading import load_beir_folder
from rerankft.mining.miner import judged_positives, mine_hard_negatives
from rerankft.retrieval.base import retriever_config
from rerankft.retrieval.dense import ENCODE_CALLS
from rerankft.retrieval.factory import build_retriever

SHARED = Path(os.environ.get("RERANKFT_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
MINER = {"range_min": 2, "range_max": 30, "num_negatives": 3, "sampling_strategy": "random", "relative_margin": 0.05,
         "absolute_margin": None, "max_score": None, "num_random_negatives": 1, "fill_with_random": True, "seed": 0}


class FixedScores:
    """A retriever with known scores: doc i scores 1 - i/100 for every query, except listed overrides."""

    name = "fixed"

    def __init__(self, corpus_ids, overrides):
        self.ids = corpus_ids
        self.overrides = overrides

    def _score(self, qid, doc_id):
        return self.overrides.get(qid, {}).get(doc_id, 1.0 - int(doc_id[1:]) / 100)

    def describe(self):
        return {"retriever": "fixed"}

    def retrieve(self, dataset, query_ids, k):
        out = {}
        for q in query_ids:
            ranked = sorted(self.ids, key=lambda d: -self._score(q, d))[:k]
            out[q] = {d: self._score(q, d) for d in ranked}
        return out

    def score_pairs(self, dataset, pairs):
        return np.array([self._score(q, d) for q, d in pairs], dtype=np.float32)


def synthetic():
    corpus = {f"d{i}": {"title": "", "text": f"passage number {i}"} for i in range(60)}
    queries = {"q1": "first query", "q2": "second query", "q3": "query without positive"}
    train = {
        "q1": {"d0": 2, "d5": 1, "d7": 0},  # d7 judged NOT relevant: a fine negative
        "q2": {"d20": 1},
        "q3": {"d1": 0},
    }
    # d6 is judged relevant for q1 only in another split: it must still never be a negative of q1
    qrels = {"train": train, "all": {**train, "q1": {**train["q1"], "d6": 3}}}
    ds = RetrievalDataset("synthetic", corpus, queries, qrels)
    # q1: positive d0 scores 0.9, d5 scores 0.5; q2's positive d20 scores 0.8
    retriever = FixedScores(sorted(corpus, key=lambda d: int(d[1:])), {"q1": {"d0": 0.9, "d5": 0.5}, "q2": {"d20": 0.8}})
    return ds, train, retriever


def check_report_adds_up(result, num_target):
    rep = result.report
    cand = rep["candidates"]
    assert sum(cand["removed"].values()) + cand["kept"] == cand["window_candidates"]
    assert rep["positives"] == len(result.rows)
    assert rep["negatives"]["hard"] + rep["negatives"]["random"] == sum(len(r.negatives) for r in result.rows)
    assert rep["negatives"]["per_positive"]["total"] == sum(len(r.negatives) for r in result.rows)
    pairs = result.to_dataset("pairs")
    labels = np.array(pairs["label"])
    assert rep["class_balance"]["positives"] == int((labels == 1).sum()) == rep["positives"]
    assert rep["class_balance"]["negatives"] == int((labels == 0).sum()) == rep["negatives"]["per_query"]["total"]
    assert rep["negatives"]["target_per_positive"] == num_target


def test_judged_positives_excluded_and_counts_add_up():
    ds, train, retriever = synthetic()
    result = mine_hard_negatives(ds, train, retriever, MINER)
    assert {r.qid for r in result.rows} == {"q1", "q2"} and result.report["queries_skipped_without_positive"] == 1
    for r in result.rows:
        assert not set(r.negatives) & judged_positives(ds, train, r.qid)
        assert "d6" not in r.negatives  # relevant in another split's qrels
        assert len(r.negatives) == len(set(r.negatives)) == 4  # 3 hard (or topped up) + 1 random
    # the window is ranks [2, 30): each positive evaluates 28 candidates
    assert result.report["candidates"]["window_candidates"] == 3 * 28
    assert result.report["candidates"]["removed"]["judged_positive"] > 0
    check_report_adds_up(result, 4)


def test_a_corpus_too_small_for_easy_negatives_still_trains(caplog):
    """range_max covers the whole corpus: no document lies beyond it, so the easy negative is a hard one."""
    ds, train, retriever = synthetic()
    with caplog.at_level(logging.WARNING):
        result = mine_hard_negatives(ds, train, retriever, {**MINER, "range_max": 100})
    assert all(len(r.negatives) == 4 and len(set(r.negatives)) == 4 for r in result.rows)
    assert result.report["random_negatives"]["topped_up_with_hard"] == len(result.rows)
    assert "too few easy negatives" in caplog.text
    assert len(result.to_dataset("ntuples")) == len(result.rows)  # no row dropped for being short
    check_report_adds_up(result, 4)


def test_margin_removes_candidates_close_to_each_positive():
    ds, train, retriever = synthetic()
    result = mine_hard_negatives(ds, train, retriever, MINER)
    for r in result.rows:
        limit = r.positive_score - abs(r.positive_score) * 0.05
        assert all(s <= limit + 1e-6 for s in r.negative_scores), (r.positive, r.negative_scores)
    weak = next(r for r in result.rows if r.positive == "d5")  # scores 0.5: only ranks >= 53 qualify, none in the window
    assert weak.n_hard == 0 and len(weak.negatives) == 4  # topped up with easy negatives
    assert result.report["queries_with_too_few_hard_negatives"]["examples"] == ["q1"]
    assert result.report["candidates"]["removed"]["margin"] > 0
    assert result.report["scores"]["hard_negatives_at_or_above_own_positive"]["count"] == 0
    no_fill = mine_hard_negatives(ds, train, retriever, {**MINER, "fill_with_random": False})
    assert len(next(r for r in no_fill.rows if r.positive == "d5").negatives) == 1
    assert no_fill.report["queries_with_too_few_negatives"]["count"] == 1


def test_top_sampling_and_max_score():
    ds, train, retriever = synthetic()
    result = mine_hard_negatives(ds, train, retriever, {**MINER, "sampling_strategy": "top", "relative_margin": None,
                                                        "num_random_negatives": 0, "max_score": 0.955})
    q2 = next(r for r in result.rows if r.qid == "q2")
    # ranks 0-1 skipped (d0, d1 at 1.0 / 0.99), d2..d4 score > 0.955 (removed by max_score), so d5, d6, d7 follow
    assert q2.negatives == ["d5", "d6", "d7"]
    assert result.report["candidates"]["removed"]["max_score"] > 0
    q1 = [r for r in result.rows if r.qid == "q1"]
    assert not set(q1[0].negatives) & set(q1[1].negatives)  # positives of one query take different negatives


def test_ntuples_grade_weights_are_the_grade_over_the_mean_grade():
    ds, train, retriever = synthetic()
    result = mine_hard_negatives(ds, train, retriever, MINER)
    plain = result.to_dataset("ntuples")
    weighted = result.to_dataset("ntuples", grade_weights=True)
    assert "label" not in plain.column_names and weighted.column_names == plain.column_names + ["label"]
    grades = [r.grade for r in result.rows]
    assert len(set(grades)) > 1  # the synthetic qrels are graded
    assert weighted["label"] == pytest.approx([g / (sum(grades) / len(grades)) for g in grades])
    assert sum(weighted["label"]) / len(weighted) == pytest.approx(1.0)


def test_formats():
    ds, train, retriever = synthetic()
    result = mine_hard_negatives(ds, train, retriever, MINER)
    nt = result.to_dataset("ntuples")
    assert nt.column_names == ["query", "positive", "negative_1", "negative_2", "negative_3", "negative_4"]
    assert len(nt) == 3
    assert len(result.to_dataset("ntuples", num_negatives=2).column_names) == 4
    lists = result.to_dataset("lists")
    row = lists[lists["query"].index("first query")]
    assert row["labels"][:2] == [2.0, 1.0] and set(row["labels"][2:]) == {0.0}
    assert len(row["docs"]) == len(row["labels"]) == 2 + 8
    assert len(result.to_dataset("lists", num_negatives=3)[0]["docs"]) <= 2 + 3
    assert len(result.to_dataset("distill")) == 12
    pairs = result.to_dataset("pairs", num_negatives=1)
    assert pairs["label"].count(0.0) == 3
    with pytest.raises(ConfigError, match="format"):
        result.to_dataset("triplets")


def test_warns_when_negatives_outscore_positives(caplog):
    ds, train, retriever = synthetic()
    cfg = {**MINER, "range_min": 0, "relative_margin": None}
    with caplog.at_level(logging.WARNING, logger="rerankft.mining"):
        result = mine_hard_negatives(ds, train, retriever, {**cfg, "num_random_negatives": 0, "fill_with_random": False,
                                                            "sampling_strategy": "top"})
    s = result.report["scores"]
    assert s["hard_negative"]["mean"] >= s["positive"]["mean"]
    assert result.report["warnings"] and "score higher" in caplog.text
    assert s["hard_negatives_at_or_above_own_positive"]["fraction"] > 0.5


def test_rounds_give_each_positive_one_more_row_per_round_with_fresh_negatives():
    """miner.rounds=2: two rows per positive whose negatives do not overlap while the window has fresh ones;
    the label-free stage keeps one row per pseudo-query whatever the labelled miner says."""
    from omegaconf import OmegaConf

    from rerankft.mining.pseudo import pseudo_miner

    ds, train, retriever = synthetic()
    one = mine_hard_negatives(ds, train, retriever, MINER)
    two = mine_hard_negatives(ds, train, retriever, {**MINER, "rounds": 2})
    assert len(two.rows) == 2 * len(one.rows)
    by_pos: dict = {}
    for r in two.rows:
        by_pos.setdefault((r.qid, r.positive), []).append(r)
    assert all(len(rs) == 2 for rs in by_pos.values())
    first, second = by_pos["q2", "d20"]
    assert first.n_hard == second.n_hard == 3 and not set(first.negatives) & set(second.negatives)
    for r in two.rows:
        assert not set(r.negatives) & judged_positives(ds, train, r.qid)
    # round 0 of the first query draws exactly what one round draws; the window is counted once
    assert [r.negatives for r in two.rows[:2]] == [r.negatives for r in one.rows[:2]]
    cand = two.report["candidates"]
    assert cand == one.report["candidates"] and sum(cand["removed"].values()) + cand["kept"] == cand["window_candidates"]
    cfg = OmegaConf.create({**MINER, "rounds": 3})
    assert pseudo_miner(OmegaConf.create({"range_min": None}), cfg).rounds == 1
    assert pseudo_miner(OmegaConf.create({"range_min": 0}), cfg).range_min == 0


@pytest.mark.parametrize("bad, key", [({"range_max": 2}, "range_max"), ({"sampling_strategy": "best"}, "sampling_strategy"),
                                      ({"relative_margin": -0.1}, "relative_margin"), ({"num_negatives": "4"}, "num_negatives"),
                                      ({"rounds": 0}, "rounds")])
def test_config_errors(bad, key):
    ds, train, retriever = synthetic()
    with pytest.raises(ConfigError, match=f"miner.{key}"):
        mine_hard_negatives(ds, train, retriever, {**MINER, **bad})


def test_denoise_drops_what_the_cross_encoder_calls_relevant():
    ds, train, retriever = synthetic()
    # The packaged MiniLM loads as a cross-encoder with a fresh head; sigmoid scores are > 0, so a
    # threshold of 0 drops every candidate that reaches the denoise step.
    cfg = {**MINER, "denoise": {"model": "sentence-transformers/all-MiniLM-L6-v2", "threshold": 0.0, "max_length": 32}}
    result = mine_hard_negatives(ds, train, retriever, cfg)
    rep = result.report
    assert rep["negatives"]["hard"] == 0 and rep["candidates"]["kept"] == 0
    assert rep["candidates"]["removed"]["denoise"] > 0 and rep["denoise"]["pairs_scored"] > 0
    check_report_adds_up(result, 4)


# ----------------------------------------------------------------------------- Cranfield (train split)

needs_cranfield = pytest.mark.skipif(not (SHARED / "cranfield" / "corpus.jsonl").is_file(), reason="shared Cranfield data not found")
CRAN_MINER = {**MINER, "range_min": 10, "range_max": 100, "num_negatives": 4}


@pytest.fixture(scope="session")
def cranfield():
    return load_beir_folder(SHARED / "cranfield")


def assert_clean(ds, result, train):
    assert result.report["queries"] == len(train)
    for r in result.rows:
        relevant = {d for split in ds.qrels.values() for d, g in split.get(r.qid, {}).items() if g > 0}
        assert not set(r.negatives) & relevant, f"query {r.qid}: a judged relevant document was mined as negative"
    check_report_adds_up(result, 5)


@pytest.mark.shared_data
@needs_cranfield
def test_cranfield_bm25_mining(cranfield, tmp_path):
    train = cranfield.split("train")
    result = mine_hard_negatives(cranfield, train, build_retriever(retriever_config("bm25"), tmp_path), CRAN_MINER)
    assert_clean(cranfield, result, train)
    assert result.report["candidates"]["removed"]["judged_positive"] > 0  # Cranfield positives do rank in the window


@pytest.mark.shared_data
@pytest.mark.slow
@needs_cranfield
def test_cranfield_dense_mining_and_cache(cranfield, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    # Short inputs keep the one-off corpus encoding affordable on CPU; the semantics are the same.
    cfg = {**retriever_config("dense"), "max_seq_length": 64}
    train = cranfield.split("train")
    before = ENCODE_CALLS["docs"]
    first = mine_hard_negatives(cranfield, train, build_retriever(cfg, cache), CRAN_MINER)
    assert ENCODE_CALLS["docs"] - before == len(cranfield.corpus)
    assert_clean(cranfield, first, train)
    s = first.report["scores"]
    assert s["hard_negative"]["mean"] < s["positive"]["mean"]  # the default miner avoids the false-negative trap

    again = build_retriever(cfg, cache)  # a new retriever: only the disk cache can spare the encoding
    second = mine_hard_negatives(cranfield, train, again, CRAN_MINER)
    assert ENCODE_CALLS["docs"] - before == len(cranfield.corpus) and again.stats["encoded_docs"] == 0
    assert again.stats["cache_hits"] == 1
    assert [r.negatives for r in second.rows] == [r.negatives for r in first.rows]  # same seed, same data: same negatives
