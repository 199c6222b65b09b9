"""rerank.cascade: a cheap pass orders every candidate, the full model rescores only its top `keep`."""

from __future__ import annotations

import numpy as np
import pytest

from rerankft.core.runs import ranked_ids
from rerankft.data.dataset import RetrievalDataset
from rerankft.scoring.cascade import Cascade


class Fake:
    """A reranker whose score is a fixed number per passage text; counts what it scored."""

    def __init__(self, table, name, backend="torch", max_length=192):
        self.table, self.name, self.backend, self.max_length = table, name, backend, max_length
        self.stats = {"pairs": 0, "scored": 0, "seconds": 0.0}
        self.seen = []

    def score(self, pairs, desc=None):
        self.stats["pairs"] += len(pairs)
        self.stats["scored"] += len(pairs)
        self.seen += [p for _, p in pairs]
        return np.array([self.table[p] for _, p in pairs], dtype=np.float32)

    def rerank_run(self, dataset, run, top_k, query_ids=None, desc=None):
        out = {}
        for q in query_ids:
            docs = ranked_ids(run[q])[:top_k]
            out[q] = dict(zip(docs, map(float, self.score([(dataset.queries[q], dataset.corpus[d]["text"]) for d in docs]))))
        return out


def _setup():
    docs = {f"d{i}": {"title": "", "text": f"p{i}"} for i in range(10)}
    ds = RetrievalDataset(name="t", corpus=docs, queries={"q1": "a", "q2": "b"}, qrels={"test": {"q1": {"d0": 1}, "q2": {"d1": 1}}})
    cheap = {f"p{i}": float(10 - i) for i in range(10)}  # cheap order: d0 > d1 > ... > d9
    full = {f"p{i}": float(i) for i in range(10)}  # the full model reverses whatever it reads
    return ds, Fake(cheap, "cheap", "onnx-int8", 64), Fake(full, "full")


def test_full_model_reads_only_the_cheap_top_keep_and_the_tail_keeps_the_cheap_order():
    ds, cheap, full = _setup()
    cascade = Cascade(full, cheap, keep=3)
    run = {q: {f"d{i}": 1.0 for i in range(10)} for q in ("q1", "q2")}
    out = cascade.rerank_run(ds, run, 10, query_ids=["q1", "q2"])
    assert sorted(full.seen) == sorted(["p0", "p1", "p2"] * 2)  # 3 of 10 per query
    assert cheap.stats["pairs"] == 20
    for q in ("q1", "q2"):
        assert ranked_ids(out[q]) == ["d2", "d1", "d0", "d3", "d4", "d5", "d6", "d7", "d8", "d9"]
        assert [out[q][d] for d in ("d2", "d1", "d0")] == [2.0, 1.0, 0.0]  # the full model's own scores
        assert out[q]["d3"] == pytest.approx(-1.0) and out[q]["d4"] == pytest.approx(-2.0)  # cheap spacing, below them
    stats = cascade.stats
    assert stats["pairs"] == 20 and stats["full_pairs"] == 6 and stats["scored"] == 26
    assert stats["backend"].startswith("cascade(onnx-int8@64->torch top 3)")


def test_score_of_one_list_equals_rerank_run_and_refuses_several_queries():
    ds, cheap, full = _setup()
    cascade = Cascade(full, cheap, keep=4)
    pairs = [("a", f"p{i}") for i in (5, 0, 9, 2, 7, 1)]
    got = cascade.score(pairs)
    run = {"q1": {d: 1.0 for d in ("d5", "d0", "d9", "d2", "d7", "d1")}}
    by_run = cascade.rerank_run(ds, run, 6, query_ids=["q1"])["q1"]
    assert np.allclose(got, [by_run[d] for d in ("d5", "d0", "d9", "d2", "d7", "d1")])
    # cheap top 4 of {5,0,9,2,7,1} = 0,1,2,5; full order among them 5 > 2 > 1 > 0; then 7, 9
    assert [pairs[i][1] for i in np.argsort(-got, kind="stable")] == ["p5", "p2", "p1", "p0", "p7", "p9"]
    with pytest.raises(ValueError, match="one query"):
        cascade.score([("a", "p1"), ("b", "p2")])


def test_keep_must_be_a_positive_integer():
    from rerankft.core.errors import ConfigError

    _, cheap, full = _setup()
    for bad in (0, -1, 2.5, None, True):
        with pytest.raises(ConfigError, match="rerank.cascade.keep"):
            Cascade(full, cheap, keep=bad)


def test_config_builds_a_cascade_around_each_reranker(tmp_path):
    """rerank.cascade.keep set: the factory wraps the reranker; null: the plain engine."""
    from hydra import compose, initialize_config_dir

    from rerankft.evaluation.rerankers import make_reranker_factory
    from rerankft.scoring.reranker import Reranker
    from tests.test_training import REPO

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        plain = compose(config_name="eval", overrides=[f"cache_dir={tmp_path}"])
        cfg = compose(config_name="eval", overrides=[f"cache_dir={tmp_path}", "rerank.cascade.keep=5",
                                                     "rerank.cascade.backend=torch", "rerank.cascade.max_length=32"])
    assert isinstance(make_reranker_factory(plain)("packaged-minilm"), Reranker)
    engine = make_reranker_factory(cfg)("packaged-minilm")
    assert isinstance(engine, Cascade) and engine.keep == 5 and engine.cheap.max_length == 32
    pairs = [("my wifi does not work", f"passage {i} about wifi" * (i + 1)) for i in range(8)]
    scores = engine.score(pairs)
    full = engine.full.score(pairs)
    top = set(np.argsort(-engine.cheap.score(pairs), kind="stable")[:5])
    assert np.allclose([scores[i] for i in sorted(top)], [full[i] for i in sorted(top)], atol=1e-5)
    assert max(scores[i] for i in range(8) if i not in top) < min(scores[i] for i in top)
