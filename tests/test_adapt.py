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


def test_focus_passages_are_sampled_first_then_the_rest_of_the_corpus():
    for seed in range(6):
        first = pseudo_query_dataset(corpus_dataset(), cfg(passages=1), seed=seed, focus={"d3"})
        assert list(first.queries.values()) == ["a duplicate"]  # d3's title, whatever the seed
        both = pseudo_query_dataset(corpus_dataset(), cfg(passages=2), seed=seed, focus={"d3"})
        assert list(both.queries.values())[0] == "a duplicate" and len(both.queries) == 2  # then the rest
    plain = [list(pseudo_query_dataset(corpus_dataset(), cfg(passages=1), seed=s).queries.values())[0] for s in range(6)]
    assert set(plain) != {"a duplicate"}  # without a focus the seeds draw other passages first


def test_focus_reads_the_training_queries_top_ranks_and_never_the_dev_queries(monkeypatch):
    import rerankft.pipeline as pipeline
    from tests.test_reliability import compose

    class Ranker:
        asked: list = []

        def retrieve(self, dataset, qids, k):
            self.asked += [(q, k) for q in qids]
            return {q: {"d3": 2.0, "d4": 1.0} for q in qids}

    seen = {}
    monkeypatch.setattr(pipeline, "mine_hard_negatives", lambda pseudo, qrels, retriever, miner: seen.setdefault("ds", pseudo))
    monkeypatch.setattr(pipeline, "grade_lists", lambda *a, **k: None)
    cfg = compose("train", "adapt.focus=queries", "adapt.focus_depth=2", "adapt.passages=1")
    ranker = Ranker()
    pipeline._pseudo_rows(cfg, corpus_dataset(), ranker, {}, None, {"t1": {"d2": 1}, "t2": {"d1": 1}})
    assert ranker.asked == [("t1", 2), ("t2", 2)]  # the training queries only, at adapt.focus_depth
    assert list(seen["ds"].queries.values()) == ["a duplicate"]  # d3, the focus's one passage with a query to give
    ranker.asked = []
    pipeline._pseudo_rows(compose("train", "adapt.passages=1"), corpus_dataset(), ranker, {}, None, {"t1": {"d2": 1}})
    assert ranker.asked == []  # adapt.focus=corpus (the default) ranks nothing


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
                                              ("adapt.range_min=-1", "adapt.range_min=-1 is invalid"),
                                              ("adapt.replay=1.5", r"adapt.replay=1.5 is invalid"),
                                              ("adapt.replay=-0.1", r"adapt.replay=-0.1 is invalid"),
                                              ("adapt.replay=true", r"adapt.replay=True is invalid"),
                                              ("adapt.replay=lots", r"adapt.replay='lots' is invalid"),
                                              ("adapt.focus=nearby", "adapt.focus='nearby' is unknown"),
                                              ("adapt.focus=queries adapt.focus_depth=0", "adapt.focus_depth=0 is invalid"),
                                              ("adapt.focus=queries dev.folds=3", "adapt.focus=queries with dev.folds")])
def test_adapt_settings_are_checked_before_anything_runs(override, message):
    from rerankft.config import validate_config
    from tests.test_reliability import compose

    validate_config(compose("train", "adapt=none"))
    with pytest.raises(ConfigError, match=message):
        validate_config(compose("train", "adapt=pseudo_queries", *override.split()))


def test_pseudo_queries_may_mine_from_the_top_ranks_the_labelled_miner_skips():
    from omegaconf import OmegaConf

    from rerankft.mining.pseudo import pseudo_miner

    miner = OmegaConf.create({"range_min": 10, "range_max": 100, "num_negatives": 4})
    assert pseudo_miner(OmegaConf.create({"range_min": None}), miner) is miner
    own = pseudo_miner(OmegaConf.create({"range_min": 0}), miner)
    assert (own.range_min, own.range_max, own.num_negatives) == (0, 100, 4)
    assert miner.range_min == 10  # the labelled miner's settings are untouched


class _Stage:
    """A first stage over the toy corpus with fixed scores: what teacher_lists needs of a retriever."""

    def __init__(self, scores):
        self.scores = scores

    def retrieve(self, dataset, query_ids, k):
        return {q: dict(sorted(self.scores.items(), key=lambda kv: -kv[1])[:k]) for q in query_ids}

    def score_pairs(self, dataset, pairs):
        return [self.scores[d] for _, d in pairs]


BM25 = _Stage({"a": 9.0, "b": 8.0, "c": 1.0, "d": 2.0, "e": 0.5, "f": 0.2, "g": 0.1})
DENSE = _Stage({"a": 0.9, "b": 0.2, "c": 0.8, "d": 0.3, "e": 0.1, "f": 0.15, "g": 0.05})
TEACHER = OmegaConf.create({"signals": ["bm25", "dense"], "depth": 7, "list": [2, 2], "temperature": 2.0})


def graded_dataset(qrels):
    corpus = {d: {"title": "", "text": f"passage {d}"} for d in "abcdefg"}
    return RetrievalDataset(name="toy", corpus=corpus, queries={"q0": "a query"}, qrels={SPLIT: qrels})


def test_teacher_lists_grade_candidates_by_the_fused_first_stages():
    import numpy as np

    from rerankft.mining.teacher import teacher_lists

    ds = graded_dataset({"q0": {"a": 1}})
    cols = teacher_lists(ds, ds.qrels[SPLIT], {"bm25": BM25, "dense": DENSE}, TEACHER, [2, 2], seed=0, per_positive=False)
    docs, labels = cols["docs"][0], cols["labels"][0]
    assert cols["query"] == ["a query"] and len(docs) == len(labels) == 5
    assert docs[0] == "passage a" and labels[0] == max(labels)  # the positive leads its list
    # b (BM25's second) and c (dense's second) are the teacher's best after the positive; then two of the rest
    assert set(docs[1:3]) == {"passage b", "passage c"}
    assert set(docs[3:]) <= {"passage d", "passage e", "passage f", "passage g"}

    def z(stage):
        x = np.array([stage.scores[d] for d in "abcdefg"])
        return dict(zip("abcdefg", (x - x.mean()) / x.std()))

    zb, zd = z(BM25), z(DENSE)
    for doc, label in zip(docs[1:], labels[1:]):  # (z(bm25) + z(dense)) over the pool, / temperature
        d = doc.split()[-1]
        assert label == pytest.approx((zb[d] + zd[d]) / 2.0)
    assert labels[0] == pytest.approx(max(zb[d] + zd[d] for d in "abcdefg") / 2.0)
    again = teacher_lists(ds, ds.qrels[SPLIT], {"bm25": BM25, "dense": DENSE}, TEACHER, [2, 2], seed=0, per_positive=False)
    assert again == cols  # seeded


def test_labelled_lists_hold_one_positive_and_never_another_positive_of_the_query():
    from rerankft.mining.teacher import teacher_lists

    ds = graded_dataset({"q0": {"a": 2, "c": 1, "d": 0}})  # d judged not relevant: a candidate like any other
    cols = teacher_lists(ds, ds.qrels[SPLIT], {"bm25": BM25, "dense": DENSE}, TEACHER, [3, 1], seed=0, per_positive=True)
    assert [docs[0] for docs in cols["docs"]] == ["passage a", "passage c"]
    for docs in cols["docs"]:
        assert len(docs) == 5 and not {"passage a", "passage c"} & set(docs[1:])
    assert "passage d" in {d for docs in cols["docs"] for d in docs[1:]}


def test_teacher_listnet_trains_both_stages_on_teacher_lists():
    from rerankft.mining.rows import MinedRow, MiningResult
    from rerankft.mining.teacher import grade_lists
    from tests.test_reliability import compose

    cfg = compose("train", "loss=teacher_listnet")
    assert cfg.loss.format == "teacher_lists"
    ds = graded_dataset({"q0": {"a": 1}})
    mined = MiningResult(dataset=ds, rows=[MinedRow("q0", "a", 1, 9.0, ["d"], [2.0], 1)])
    grade_lists(mined, ds.qrels[SPLIT], {}, cfg, pseudo=True)
    assert mined.lists is None  # no teachers, nothing graded
    cfg.loss.teacher_lists.depth = 7
    grade_lists(mined, ds.qrels[SPLIT], {"bm25": BM25, "dense": DENSE}, cfg, pseudo=True)
    rows = mined.to_dataset("teacher_lists")
    assert cfg.adapt.lists == [4, 3] and rows.column_names == ["query", "docs", "labels"]
    assert len(rows[0]["docs"]) == 7  # the source, the teacher's top 4, and the 2 of 3 to draw that the pool has left


@pytest.mark.parametrize("override,message", [
    ("loss.teacher_lists.depth=1", "loss.teacher_lists.depth=1 is invalid"),
    ("loss.teacher_lists.temperature=0", "loss.teacher_lists.temperature=0 is invalid"),
    ("loss.teacher_lists.signals=[bm25,splade]", "loss.teacher_lists.signals=.* is invalid"),
    ("loss.teacher_lists.list=[0,0]", r"loss.teacher_lists.list=\[0, 0\] is invalid"),
    ("adapt.lists=[4]", r"adapt.lists=\[4\] is invalid"),
    ("loss.teacher_lists.positive_mass=1", "loss.teacher_lists.positive_mass=1 is invalid"),
])
def test_teacher_settings_are_checked_before_anything_runs(override, message):
    from rerankft.config import validate_config
    from tests.test_reliability import compose

    validate_config(compose("train", "loss=teacher_listnet"))
    with pytest.raises(ConfigError, match=message):
        validate_config(compose("train", "loss=teacher_listnet", override))


def test_positive_mass_gives_the_positive_that_share_of_its_lists_softmax():
    import numpy as np

    from rerankft.mining.teacher import teacher_lists

    ds = graded_dataset({"q0": {"a": 2, "c": 1}})
    settings = OmegaConf.merge(TEACHER, {"positive_mass": 0.7})
    cols = teacher_lists(ds, ds.qrels[SPLIT], {"bm25": BM25, "dense": DENSE}, settings, [3, 1], seed=0, per_positive=True)
    for labels in cols["labels"]:
        share = np.exp(labels[0]) / np.exp(labels).sum()
        assert share == pytest.approx(0.7)
        assert labels[1:] == sorted(labels[1:3], reverse=True) + labels[3:]  # the teacher still orders the negatives
    with pytest.raises(ConfigError, match="loss.teacher_lists.positive_mass=1.5 is invalid"):
        teacher_lists(ds, ds.qrels[SPLIT], {}, OmegaConf.merge(TEACHER, {"positive_mass": 1.5}), [3, 1], seed=0, per_positive=True)


def test_adapt_loss_grades_only_the_label_free_stage_with_its_own_teacher_settings():
    import numpy as np

    from rerankft.mining import teacher
    from rerankft.mining.rows import MinedRow, MiningResult
    from tests.test_reliability import compose

    cfg = compose("train", "adapt=pseudo_teacher", "adapt.loss.teacher_lists.depth=7", "cache_dir=unused")
    assert cfg.loss.format != "teacher_lists" and cfg.adapt.loss.format == "teacher_lists" and cfg.adapt.select
    ds = graded_dataset({"q0": {"a": 1}})

    def mined():
        return MiningResult(dataset=ds, rows=[MinedRow("q0", "a", 1, 9.0, ["d"], [2.0], 1)])

    labelled, pseudo = mined(), mined()
    teacher.grade_lists(labelled, ds.qrels[SPLIT], {"bm25": BM25, "dense": DENSE}, cfg, pseudo=False)
    teacher.grade_lists(pseudo, ds.qrels[SPLIT], {"bm25": BM25, "dense": DENSE}, cfg, pseudo=True)
    assert labelled.lists is None  # the labelled stage trains on loss=, not on lists
    labels = np.asarray(pseudo.lists["labels"][0])
    share = np.exp(labels[0]) / np.exp(labels).sum()
    assert len(labels) == 1 + 4 + 2 and share == pytest.approx(0.7)  # adapt.lists [4, 3]; adapt.loss's positive_mass
    # Only the stages that train on lists build a teacher; without adapt the pseudo stage's loss is moot.
    built = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(teacher, "build_first_stage", lambda name, *a: built.append(name) or name)
        assert teacher.teacher_signals(cfg) == {"bm25": "bm25", "dense": "dense"}
        assert teacher.teacher_signals(compose("train", "adapt=none", "cache_dir=unused")) == {}
    assert built == ["bm25", "dense"]


@pytest.mark.parametrize("override,message", [
    ("adapt.loss.format=rows", "adapt.loss.format='rows' is unknown"),
    ("adapt.loss.teacher_lists.depth=1", "adapt.loss.teacher_lists.depth=1 is invalid"),
    ("adapt.loss.teacher_lists.positive_mass=1.0", "adapt.loss.teacher_lists.positive_mass=1.0 is invalid"),
    ("adapt.loss=5", "adapt.loss=5 is invalid"),
])
def test_adapt_loss_settings_name_their_key(override, message):
    from rerankft.config import validate_config
    from tests.test_reliability import compose

    validate_config(compose("train", "adapt=pseudo_teacher"))
    with pytest.raises(ConfigError, match=message):
        validate_config(compose("train", "adapt=pseudo_teacher", override))


def test_compare_keeps_the_better_branch_with_its_weights_and_random_state(monkeypatch):
    import torch

    from rerankft.training import adapt

    model = torch.nn.Linear(2, 1, bias=False)

    def fake_stage(cfg, model, mined, out_dir, args, cfg_loss=None):
        # each loss moves the weights its own way and draws a different amount of randomness
        with torch.no_grad():
            model.weight += 1.0 if cfg_loss.name == "run" else 2.0
        torch.rand(1 if cfg_loss.name == "run" else 3)
        return {"loss": cfg_loss.name}

    monkeypatch.setattr(adapt, "adapt_on_pseudo_queries", fake_stage)
    cfg = OmegaConf.create({"loss": {"name": "run"}, "adapt": {"loss": {"name": "lists"}}})

    def compare(dev_by_weight):
        torch.nn.init.zeros_(model.weight)
        torch.manual_seed(0)
        summary, dev = adapt.adapt_comparing_losses(cfg, model, None, None, None, lambda: dev_by_weight[float(model.weight.detach()[0, 0])])
        return summary, dev, float(model.weight.detach()[0, 0]), torch.rand(1).item()

    def after_single_run(draws):  # the next random number after a run with that branch alone
        torch.manual_seed(0)
        torch.rand(draws)
        return torch.rand(1).item()

    summary, dev, weight, following = compare({1.0: 0.3, 2.0: 0.5})
    assert (summary["chosen"], dev, weight, following) == ("adapt.loss", 0.5, 2.0, after_single_run(3))
    assert summary["compared"]["loss"] == {"loss": "run", "dev_ndcg@10": 0.3}  # from the start, not from the other branch
    summary, dev, weight, following = compare({1.0: 0.5, 2.0: 0.5})  # a tie: the run's own loss
    assert (summary["chosen"], weight, following) == ("loss", 1.0, after_single_run(1))


def test_adapt_switches_name_their_key():
    from rerankft.config import validate_config
    from tests.test_reliability import compose

    for key in ("adapt.compare", "adapt.select"):
        with pytest.raises(ConfigError, match=f"{key}='yes' is invalid"):
            validate_config(compose("train", f"{key}=yes"))


def _mined(prefix: str, n: int):
    """n ntuples rows, queries ``<prefix>0..``, each with its own positive and two negatives."""
    from rerankft.mining.rows import MinedRow, MiningResult

    corpus = {f"{prefix}{kind}{i}": {"title": "", "text": f"{prefix} {kind} passage {i}"} for i in range(n) for kind in "pab"}
    queries = {f"{prefix}{i}": f"{prefix} query {i}" for i in range(n)}
    ds = RetrievalDataset(name=prefix, corpus=corpus, queries=queries, qrels={})
    rows = [MinedRow(f"{prefix}{i}", f"{prefix}p{i}", 1, 9.0, [f"{prefix}a{i}", f"{prefix}b{i}"], [2.0, 1.0], 2) for i in range(n)]
    return MiningResult(dataset=ds, rows=rows, negatives_per_row=2)


def test_replay_mixes_a_seeded_share_of_pseudo_query_rows_into_the_labelled_rows():
    from rerankft.training.adapt import replay_rows
    from tests.test_reliability import compose

    labelled, pseudo = _mined("lab", 8), _mined("pse", 20)
    rows = labelled.to_dataset("ntuples")
    cfg = compose("train", "adapt.replay=0.5")
    mixed = replay_rows(cfg, rows, pseudo, "ntuples")
    queries = mixed["query"]
    assert len(mixed) == 12 and queries[:8] == rows["query"]  # every labelled row, then 4 pseudo-query rows
    assert all(q.startswith("pse query") for q in queries[8:]) and len(set(queries[8:])) == 4
    assert mixed["negative_1"][8:] == [q.replace("query", "a passage") for q in queries[8:]]  # whole rows, not shuffled columns
    assert replay_rows(cfg, rows, pseudo, "ntuples")["query"] == queries  # seeded by train.seed
    cfg.train.seed = 7
    assert replay_rows(cfg, rows, pseudo, "ntuples")["query"][8:] != queries[8:]
    cfg.adapt.replay = 1
    assert len(replay_rows(cfg, labelled.to_dataset("ntuples"), _mined("pse", 3), "ntuples")) == 11  # at most every pseudo row once
    assert replay_rows(cfg, rows, None, "ntuples") is rows  # adapt=none: nothing to replay
    cfg.adapt.replay = 0
    assert replay_rows(cfg, rows, pseudo, "ntuples") is rows


def test_replay_is_refused_with_bm25_offsets_before_anything_runs():
    from rerankft.config import validate_config
    from tests.test_reliability import compose

    validate_config(compose("train", "adapt.replay=0.25"))
    with pytest.raises(ConfigError, match="adapt.replay with loss.residual"):
        validate_config(compose("train", "adapt.replay=0.25", "loss.residual=0.5"))


def test_replay_refuses_rows_of_another_shape():
    from rerankft.training.adapt import replay_rows
    from tests.test_reliability import compose

    cfg = compose("train", "adapt.replay=0.25")
    rows = _mined("lab", 4).to_dataset("ntuples")  # two negatives a row
    narrow = _mined("pse", 4)
    for r in narrow.rows:  # pseudo-query rows with one negative: another ntuples shape
        r.negatives, r.negative_scores, r.n_hard = r.negatives[:1], r.negative_scores[:1], 1
    narrow.negatives_per_row = 1
    with pytest.raises(ConfigError, match="adapt.replay: the pseudo-query rows"):
        replay_rows(cfg, rows, narrow, "ntuples")
