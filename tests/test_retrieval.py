"""First-stage retrieval: exact blocked top-k, TREC run files, BM25/dense caches, factories."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from rerankft.core.errors import ConfigError, DataError
from rerankft.core.runs import read_trec_run, write_trec_run
from rerankft.data.dataset import RetrievalDataset
from rerankft.retrieval.base import retriever_config
from rerankft.retrieval.dense import ENCODE_CALLS, blocked_topk
from rerankft.retrieval.factory import build_first_stage, build_retriever
from rerankft.retrieval.hybrid import rrf


def tiny_dataset() -> RetrievalDataset:
    corpus = {
        "d1": {"title": "Wing flutter", "text": "flutter of a swept wing at transonic speed"},
        "d2": {"title": "Heat transfer", "text": "heat transfer in a laminar boundary layer"},
        "d3": {"title": "", "text": "buckling of thin cylindrical shells under axial load"},
        "d4": {"title": "Shock waves", "text": "shock wave boundary layer interaction on a flat plate"},
        "d5": {"title": "Cooking", "text": "a recipe for bread with flour water and yeast"},
    }
    queries = {"q1": "wing flutter at transonic speeds", "q2": "boundary layer heat transfer", "q3": "shell buckling"}
    qrels = {"train": {"q1": {"d1": 1}, "q2": {"d2": 2, "d4": 1}}, "test": {"q3": {"d3": 1}}}
    return RetrievalDataset("tiny", corpus, queries, qrels)


# ----------------------------------------------------------------------------- blocked top-k


def test_blocked_topk_equals_brute_force():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((37, 16)).astype(np.float32)
    c = rng.standard_normal((523, 16)).astype(np.float32)
    full = q @ c.T
    brute_i = np.argsort(-full, axis=1, kind="stable")[:, :20]
    brute_s = np.take_along_axis(full, brute_i, axis=1)
    # blocks smaller than k and not dividing the corpus, several query blocks
    s, i = blocked_topk(q, c, k=20, block_size=13, query_block_size=8)
    assert s.shape == i.shape == (37, 20)
    np.testing.assert_allclose(s, brute_s, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(i, brute_i)  # random floats: no ties, so indices are exact too
    # scores returned are the scores of the returned indices
    np.testing.assert_allclose(np.take_along_axis(full, i, axis=1), s, rtol=1e-5, atol=1e-5)


def test_blocked_topk_with_ties_and_k_above_corpus():
    rng = np.random.default_rng(1)
    q = rng.integers(0, 3, (9, 4)).astype(np.float32)
    c = rng.integers(0, 3, (50, 4)).astype(np.float32)  # many tied scores
    full = q @ c.T
    s, i = blocked_topk(q, c, k=7, block_size=6, query_block_size=4)
    np.testing.assert_array_equal(s, -np.sort(-full, axis=1)[:, :7])  # the k best scores, whatever the tie order
    np.testing.assert_array_equal(np.take_along_axis(full, i, axis=1), s)
    assert all(len(set(row)) == 7 for row in i)  # no document twice
    s, i = blocked_topk(q, c, k=500, block_size=16)
    assert s.shape == (9, 50)


# ----------------------------------------------------------------------------- TREC runs


def test_trec_run_round_trip(tmp_path):
    run = {"q1": {"d1": 2.5, "d2": 1.0}, "q2": {"d4": 0.3}}
    path = write_trec_run(run, tmp_path / "run.trec", tag="my system")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 d1 1 2.5 my_system"
    assert lines[1].split()[3] == "2"
    assert read_trec_run(path) == run


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2\n", "run.trec:2: expected 6"),
        ("q1 Q0 d1 1 high t\n", "run.trec:1: score 'high'"),
        ("q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n", "run.trec:2: document 'd1' listed twice"),
        ("\n", "empty"),
    ],
)
def test_malformed_run_file(tmp_path, content, fragment):
    path = tmp_path / "run.trec"
    path.write_text(content)
    with pytest.raises(DataError, match=fragment):
        read_trec_run(path)


def test_run_retriever_unknown_doc_and_missing_query(tmp_path):
    ds = tiny_dataset()
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 d1 1 3.0 t\nq1 Q0 nope 2 2.0 t\n")
    r = build_retriever({"kind": "trec_run", "path": str(path)}, None)
    with pytest.raises(DataError, match=r"run.trec:2: unknown document id 'nope'"):
        r.retrieve(ds, ["q1"], 10)
    path.write_text("q1 Q0 d1 1 3.0 t\nq1 Q0 d2 2 2.0 t\nq1 Q0 d3 3 2.0 t\n")
    r = build_retriever({"kind": "trec_run", "path": str(path)}, None)
    assert list(r.retrieve(ds, ["q1"], 2)["q1"]) == ["d1", "d3"]  # the one tie rule: doc id descending, as trec_eval
    with pytest.raises(DataError, match="query 'q2' has no candidates"):
        r.retrieve(ds, ["q1", "q2"], 10)
    s = r.score_pairs(ds, [("q1", "d2"), ("q1", "d5")])
    assert s[0] == 2.0 and np.isnan(s[1])


def test_run_retriever_needs_path():
    from omegaconf import OmegaConf

    with pytest.raises(ConfigError, match="retriever.path"):
        build_retriever(OmegaConf.create({"kind": "trec_run", "path": "???"}), None)
    with pytest.raises(DataError, match="not found"):
        build_retriever({"kind": "trec_run", "path": "/nonexistent/run.trec"}, None)


# ----------------------------------------------------------------------------- BM25


def test_bm25_ranks_and_caches(tmp_path):
    ds = tiny_dataset()
    r = build_retriever(retriever_config("bm25"), tmp_path)
    run = r.retrieve(ds, ["q1", "q2"], 3)
    assert next(iter(run["q1"])) == "d1"
    assert set(run["q2"]) <= {"d2", "d4"}  # only documents sharing a term are retrieved
    assert r.stats["indexed_docs"] == 5
    d = r.describe()
    assert (d["variant"], d["k1"], d["b"], d["stopwords"]) == ("lucene", 1.5, 0.75, "en")
    np.testing.assert_allclose(r.score_pairs(ds, [("q1", "d1"), ("q1", "d5")]), [run["q1"]["d1"], 0.0], rtol=1e-6)

    again = build_retriever(retriever_config("bm25"), tmp_path)
    assert again.retrieve(ds, ["q1", "q2"], 3) == run
    assert again.stats == {"indexed_docs": 0, "cache_hits": 1, "cache_rebuilds": 0}

    # a broken cache folder is rebuilt, not trusted
    folder = next((tmp_path / "bm25").iterdir())
    (folder / "doc_ids.json").write_text("[")
    rebuilt = build_retriever(retriever_config("bm25"), tmp_path)
    assert rebuilt.retrieve(ds, ["q1", "q2"], 3) == run
    assert rebuilt.stats["cache_rebuilds"] == 1 and rebuilt.stats["indexed_docs"] == 5

    other = build_retriever({**retriever_config("bm25"), "k1": 0.9}, tmp_path)  # other parameters, other cache entry
    other.retrieve(ds, ["q1"], 3)
    assert other.stats["indexed_docs"] == 5


def test_bm25_stems_english_by_default_and_none_turns_it_off(tmp_path):
    # "buckled shell" shares no surface form with d3's "buckling of thin cylindrical shells";
    # stemmed, "buckled"/"buckling" and "shell"/"shells" meet, so d3 is found
    ds = RetrievalDataset("tiny", tiny_dataset().corpus, {"q": "buckled shell"}, {"test": {"q": {"d3": 1}}})
    stemmed = build_retriever(retriever_config("bm25"), tmp_path)
    plain = build_retriever({**retriever_config("bm25"), "stemmer": "none"}, tmp_path)
    assert stemmed.describe()["stemmer"].startswith("snowball english") and plain.describe()["stemmer"] is None
    assert set(stemmed.retrieve(ds, ["q"], 5)) == set(plain.retrieve(ds, ["q"], 5)) == {"q"}
    assert stemmed.retrieve(ds, ["q"], 5)["q"] == {"d3": pytest.approx(stemmed.score_pairs(ds, [("q", "d3")])[0])}
    assert plain.retrieve(ds, ["q"], 5)["q"] == {}  # "shell" alone is not a token of d3 unstemmed
    assert plain.stats["indexed_docs"] == 5  # its own cache entry, not the stemmed index
    with pytest.raises(ConfigError, match="retriever.stemmer='klingon'"):
        build_retriever({**retriever_config("bm25"), "stemmer": "klingon"}, None)


def test_unknown_kinds():
    with pytest.raises(ConfigError, match="retriever.kind"):
        build_retriever({"kind": "splade"}, None)
    with pytest.raises(ConfigError, match="eval.first_stages"):
        build_first_stage("splade", {"retriever": retriever_config("dense")}, None)
    with pytest.raises(ConfigError, match="retriever.method"):
        build_retriever({"kind": "bm25", "method": "bm99"}, None)
    with pytest.raises(ConfigError, match="top-k"):
        build_retriever(retriever_config("bm25"), None).retrieve(tiny_dataset(), ["q1"], 0)


def test_build_first_stage_uses_config_of_same_kind(tmp_path):
    cfg = {"retriever": {**retriever_config("bm25"), "k1": 0.9}}
    assert build_first_stage("bm25", cfg, tmp_path).k1 == 0.9
    dense = build_first_stage("dense", cfg, tmp_path)  # other kind: packaged defaults
    assert dense.name == "dense" and dense.model_name == retriever_config("dense")["name"]


# ----------------------------------------------------------------------------- dense


def test_dense_exact_cached_and_corruption_rebuilt(tmp_path):
    ds = tiny_dataset()
    cfg = {**retriever_config("dense"), "block_size": 2, "max_seq_length": 32}
    r = build_retriever(cfg, tmp_path)
    before = ENCODE_CALLS["docs"]
    run = r.retrieve(ds, ["q1", "q2", "q3"], 5)
    assert ENCODE_CALLS["docs"] - before == 5 and r.stats["encoded_docs"] == 5
    assert next(iter(run["q1"])) == "d1" and next(iter(run["q3"])) == "d3"
    # score_pairs gives the same cosine scores as the ranking, also for any pair
    pairs = [(q, d) for q in run for d in run[q]]
    np.testing.assert_allclose(r.score_pairs(ds, pairs), [run[q][d] for q, d in pairs], rtol=1e-5, atol=1e-6)

    warm = build_retriever(cfg, tmp_path)
    before = ENCODE_CALLS["docs"]
    assert warm.retrieve(ds, ["q1", "q2", "q3"], 5).keys() == run.keys()
    assert ENCODE_CALLS["docs"] == before and warm.stats["cache_hits"] == 1

    npy = next((tmp_path / "dense").glob("*.npy"))
    meta = json.loads(npy.with_suffix(".json").read_text())
    assert meta["ids"] == sorted(ds.corpus)
    raw = bytearray(npy.read_bytes())
    raw[-1] ^= 0xFF  # same size, one flipped byte: only the checksum can tell
    npy.write_bytes(bytes(raw))
    broken = build_retriever(cfg, tmp_path)
    broken.retrieve(ds, ["q1"], 2)
    assert broken.stats["cache_rebuilds"] == 1 and broken.stats["encoded_docs"] == 5

    # faiss (optional) is exact too: same scores
    if importlib.util.find_spec("faiss"):
        exact_faiss = build_retriever({**cfg, "use_faiss": True}, tmp_path).retrieve(ds, ["q1", "q2", "q3"], 5)
        for q in run:
            np.testing.assert_allclose(sorted(exact_faiss[q].values()), sorted(run[q].values()), rtol=1e-5, atol=1e-6)

    # a changed corpus is a different cache entry
    ds.corpus["d6"] = {"title": "", "text": "wing flutter again"}
    changed = build_retriever(cfg, tmp_path)
    changed.retrieve(ds, ["q1"], 2)
    assert changed.stats["encoded_docs"] == 6


# ----------------------------------------------------------------------------- hybrid


def test_rrf_matches_the_formula_and_keeps_documents_of_either_list():
    a = {"q1": {"d1": 9.0, "d2": 5.0, "d3": 1.0}, "q2": {}}
    b = {"q1": {"d3": 0.9, "d4": 0.8}, "q2": {"d2": 0.5}}
    fused = rrf([a, b], k=60)
    assert fused["q1"] == pytest.approx({"d1": 1 / 61, "d2": 1 / 62, "d3": 1 / 63 + 1 / 61, "d4": 1 / 62})
    assert fused["q2"] == pytest.approx({"d2": 1 / 61})  # a query one list has no documents for
    assert rrf([{}, {}], k=60) == {}


def test_hybrid_first_stage_fuses_bm25_and_dense(tmp_path):
    ds = tiny_dataset()
    cfg = {**retriever_config("hybrid"), "depth": 5, "dense": {"max_seq_length": 32}, "bm25": {"k1": 1.2}}
    hybrid = build_retriever(cfg, tmp_path)
    assert hybrid.name == "hybrid" and hybrid.components["bm25"].k1 == 1.2
    assert hybrid.describe()["components"]["dense"]["retriever"] == "dense"
    run = hybrid.retrieve(ds, ["q1", "q2", "q3"], 3)
    bm25 = build_retriever(retriever_config("bm25"), tmp_path).retrieve(ds, ["q1", "q2", "q3"], 5)
    dense = build_retriever({**retriever_config("dense"), "max_seq_length": 32}, tmp_path).retrieve(ds, ["q1", "q2", "q3"], 5)
    expected = rrf([bm25, dense], 60)
    for q in run:
        assert len(run[q]) == 3
        assert run[q] == pytest.approx({d: expected[q][d] for d in run[q]})
        assert min(run[q].values()) >= max(v for d, v in expected[q].items() if d not in run[q])
    assert next(iter(sorted(run["q1"], key=run["q1"].get, reverse=True))) == "d1"
    pairs = [(q, d) for q in run for d in run[q]] + [("q3", "d5")]
    scores = hybrid.score_pairs(ds, pairs)
    np.testing.assert_allclose(scores[:-1], [run[q][d] for q, d in pairs[:-1]], rtol=1e-6)
    with pytest.raises(DataError, match="not in the corpus"):
        hybrid.score_pairs(ds, [("q1", "nope")])
    with pytest.raises(ConfigError, match="retriever.method"):
        build_retriever({**cfg, "method": "combsum"}, tmp_path)
    # usable as an eval first stage by name
    assert build_first_stage("hybrid", None, tmp_path).name == "hybrid"


def test_prf_first_stage_reorders_the_hybrids_candidates_by_the_feedback_vector(tmp_path):
    """prf = the hybrid's top `depth`, each scored cos(q', d) with q' = q + beta * mean(top `feedback`)."""
    ds = tiny_dataset()
    hybrid_cfg = {"depth": 5, "dense": {"max_seq_length": 32}}
    prf = build_retriever({**retriever_config("prf"), "feedback": 2, "beta": 0.5, "depth": 5, "hybrid": hybrid_cfg}, tmp_path)
    hybrid = build_retriever({**retriever_config("hybrid"), **hybrid_cfg}, tmp_path)
    dense = prf.dense
    _, emb, index = dense.corpus_embeddings(ds)
    qids = ["q1", "q2", "q3"]
    run, leader = prf.retrieve(ds, qids, 4), hybrid.retrieve(ds, qids, 5)
    for q, vec in zip(qids, dense.query_embeddings(ds, qids)):
        top = sorted(leader[q], key=leader[q].get, reverse=True)
        want = vec + 0.5 * emb[[index[d] for d in top[:2]]].mean(axis=0)
        want = want / np.linalg.norm(want)
        expected = {d: float(emb[index[d]] @ want) for d in top}
        assert set(run[q]) <= set(top) and len(run[q]) == 4  # the hybrid's candidates, its top 4 of them
        assert run[q] == pytest.approx({d: expected[d] for d in run[q]}, abs=1e-6)
        assert min(run[q].values()) >= max(v for d, v in expected.items() if d not in run[q])
    # beta 0: the bi-encoder's own order of the hybrid's candidates
    plain = build_retriever({**retriever_config("prf"), "beta": 0.0, "depth": 5, "hybrid": hybrid_cfg}, tmp_path)
    qv = dense.query_embeddings(ds, ["q1"])[0]
    assert plain.retrieve(ds, ["q1"], 5)["q1"] == pytest.approx({d: float(emb[index[d]] @ qv) for d in leader["q1"]}, abs=1e-6)
    # any pair is scored, also outside the candidates; unknown documents and bad settings are refused by key
    scores = prf.score_pairs(ds, [("q1", d) for d in run["q1"]] + [("q3", "d5")])
    np.testing.assert_allclose(scores[:-1], list(run["q1"].values()), rtol=1e-5)
    with pytest.raises(DataError, match="not in the corpus"):
        prf.score_pairs(ds, [("q1", "nope")])
    for key, bad in (("feedback", 0), ("depth", "ten"), ("beta", -1.0)):
        with pytest.raises(ConfigError, match=f"retriever.{key}="):
            build_retriever({**retriever_config("prf"), key: bad}, tmp_path)
    assert build_first_stage("prf", None, tmp_path).name == "prf"


def test_rm3_weights_are_the_query_and_the_relevance_model_mixed():
    from rerankft.retrieval.rm3 import expansion_weights

    # two feedback passages with equal BM25 scores: P(d|q) = 1/2 each; P(t|R) = sum_d 1/2 * tf / |d|
    fb = [(["wing", "flutter", "flutter", "speed"], 3.0), (["wing", "shock"], 3.0)]
    w = expansion_weights(["wing", "flutter"], fb, terms=2, original=0.5)
    # relevance model: wing 1/8 + 1/4 = 3/8, flutter 1/4, speed 1/8, shock 1/4; top 2 by mass: wing, then
    # flutter or shock (a tie at 1/4: Counter.most_common keeps first-seen order, flutter)
    assert w == pytest.approx({"wing": 0.25 + 0.5 * (3 / 8) / (5 / 8), "flutter": 0.25 + 0.5 * (1 / 4) / (5 / 8)})
    assert sum(w.values()) == pytest.approx(1.0)
    assert expansion_weights(["wing"], [], terms=5, original=0.5) == {"wing": 0.5}  # no feedback: the query alone
    assert expansion_weights([], fb, terms=1, original=0.5) == pytest.approx({"wing": 0.5})


def test_rm3_first_stage_finds_what_the_feedback_passages_share(tmp_path):
    corpus = {
        "a": {"title": "", "text": "supersonic wing flutter measured in the wind tunnel"},
        "b": {"title": "", "text": "wing flutter and aeroelastic divergence of panels"},
        "c": {"title": "", "text": "aeroelastic divergence of swept panels"},  # no query term at all
        "d": {"title": "", "text": "bread flour yeast and water"},
    }
    ds = RetrievalDataset("rm3", corpus, {"q": "wing flutter"}, {"test": {"q": {"c": 1}}})
    cfg = {**retriever_config("rm3"), "feedback_docs": 2, "feedback_terms": 6}
    rm3 = build_retriever(cfg, tmp_path)
    bm25 = build_retriever(retriever_config("bm25"), tmp_path)
    assert "c" not in bm25.retrieve(ds, ["q"], 4)["q"]
    run = rm3.retrieve(ds, ["q"], 4)["q"]
    assert "c" in run and "d" not in run  # "aeroelastic divergence panels" came from the feedback passages
    assert set(sorted(run, key=run.get, reverse=True)[:2]) == {"a", "b"}  # the passages with the query's terms lead
    np.testing.assert_allclose(rm3.score_pairs(ds, [("q", d) for d in run] + [("q", "d")]), [*run.values(), 0.0], rtol=1e-5)
    assert rm3.describe()["bm25"]["stemmer"].startswith("snowball")
    assert build_first_stage("rm3", None, tmp_path).name == "rm3"  # usable as an eval first stage by name
    for key, bad in (("feedback_docs", 0), ("feedback_terms", 1.5), ("original_weight", 1.5)):
        with pytest.raises(ConfigError, match=f"retriever.{key}="):
            build_retriever({**cfg, key: bad}, None)
