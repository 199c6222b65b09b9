"""The label-free adaptation stage: pseudo-queries from the corpus, mined and trained like labelled ones."""

import pytest
from omegaconf import OmegaConf

from rerankft.core.errors import ConfigError
from rerankft.data.dataset import RetrievalDataset
from rerankft.mining.pseudo import SPLIT, pseudo_query_dataset

BODY = "the boundary layer on a flat plate becomes turbulent at a reynolds number that depends on the free stream turbulence level"


def corpus_dataset():
    corpus = {
        "d1": {"title": "transition on a flat plate", "text": BODY},
        "d2": {"title": "", "text": "heat transfer to a cylinder in cross flow measured with thin film gauges over a wide range of speeds and angles"},
        "d3": {"title": "a duplicate", "text": BODY},  # same body as d1
        "d4": {"title": "", "text": "too short"},
        "d5": {"title": "empty body", "text": ""},
    }
    return RetrievalDataset(name="toy", corpus=corpus, queries={}, qrels={})


def cfg(**kw):
    return OmegaConf.create({"kind": "pseudo_queries", "passages": 10, "source": "auto", "span_words": [4, 8], **kw})


def test_titles_become_queries_and_no_passage_keeps_its_title():
    ds = pseudo_query_dataset(corpus_dataset(), cfg(), seed=0)
    by_query = {ds.queries[q]: set(docs) for q, docs in ds.qrels[SPLIT].items()}
    assert by_query["transition on a flat plate"] == {"d1", "d3"}  # the near-duplicate is a positive, never a negative
    assert all(doc["title"] == "" for doc in ds.corpus.values())
    assert "d5" not in ds.corpus and "d4" in ds.corpus  # an empty body is no passage; a short one stays a candidate


def test_span_queries_are_cut_out_of_their_passage():
    ds = pseudo_query_dataset(corpus_dataset(), cfg(source="span"), seed=0)
    assert ds.queries, "the two long bodies give span queries"
    for qid, docs in ds.qrels[SPLIT].items():
        span = ds.queries[qid]
        assert 4 <= len(span.split()) <= 8
        source = [d for d in docs if span not in ds.corpus[d]["text"]]
        assert source, "the source passage no longer contains its span"
    assert "d4" not in {d for docs in ds.qrels[SPLIT].values() for d in docs}  # too short to cut a span from


def test_sampling_is_seeded_and_bounded():
    a = pseudo_query_dataset(corpus_dataset(), cfg(passages=1), seed=3)
    b = pseudo_query_dataset(corpus_dataset(), cfg(passages=1), seed=3)
    assert len(a.queries) == 1 and a.queries == b.queries and a.qrels == b.qrels


@pytest.mark.parametrize("override,message", [({"source": "abstract"}, "adapt.source='abstract' is unknown"),
                                              ({"span_words": [9, 3]}, "are invalid")])
def test_bad_settings_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        pseudo_query_dataset(corpus_dataset(), cfg(**override), seed=0)


def test_a_corpus_without_titles_or_long_bodies_is_one_clear_error():
    ds = RetrievalDataset(name="tiny", corpus={"a": {"title": "", "text": "short text"}}, queries={}, qrels={})
    with pytest.raises(ConfigError, match="adapt=none"):
        pseudo_query_dataset(ds, cfg(), seed=0)


@pytest.mark.parametrize("override,message", [("adapt.max_steps=0", "adapt.max_steps=0 is invalid"),
                                              ("adapt.source=abstract", "adapt.source='abstract' is unknown"),
                                              ("adapt.range_min=100", "adapt.range_min=100 is invalid"),
                                              ("adapt.range_min=-1", "adapt.range_min=-1 is invalid")])
def test_adapt_settings_are_checked_before_anything_runs(override, message):
    from rerankft.config import validate_config
    from tests.test_reliability import compose

    validate_config(compose("train", "adapt=none"))
    with pytest.raises(ConfigError, match=message):
        validate_config(compose("train", "adapt=pseudo_queries", override))


def test_pseudo_queries_may_mine_from_the_top_ranks_the_labelled_miner_skips():
    from omegaconf import OmegaConf

    from rerankft.mining.pseudo import pseudo_miner

    miner = OmegaConf.create({"range_min": 10, "range_max": 100, "num_negatives": 4})
    assert pseudo_miner(OmegaConf.create({"range_min": None}), miner) is miner
    own = pseudo_miner(OmegaConf.create({"range_min": 0}), miner)
    assert (own.range_min, own.range_max, own.num_negatives) == (0, 100, 4)
    assert miner.range_min == 10  # the labelled miner's settings are untouched
