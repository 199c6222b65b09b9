import json

import pytest

from rerankft.core.errors import DataError
from rerankft.data.dataset import carve_dev, ensure_splits, split_by_query
from rerankft.data.loading import (
    load_beir_folder,
    load_beir_hub,
    load_demo,
    load_pairs_jsonl,
)


def test_beir_folder_loads_corpus_queries_and_graded_qrels(beir_folder):
    ds = load_beir_folder(beir_folder())
    assert set(ds.corpus) == {"d1", "d2", "d3"}
    assert ds.queries["q2"] == "when do backups run"
    assert ds.split("test") == {"q1": {"d1": 2}, "q2": {"d2": 1, "d3": 0}}
    assert ds.doc_text("d1") == "Reset Hold the reset button for ten seconds."
    assert ds.doc_text("d3") == "Firmware updates install automatically."


def test_fingerprint_changes_with_content(beir_folder, tmp_path):
    a = load_beir_folder(beir_folder()).fingerprint()
    b = load_beir_folder(beir_folder(qrels=["q1\td1\t1"])).fingerprint()
    assert a != b and len(a) == 16
    assert load_beir_folder(beir_folder()).fingerprint() == a


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"corpus": ['{"_id": "d1", "text": "a"}', "{not json"]}, r"corpus.jsonl:2: malformed JSON"),
        ({"corpus": ['{"title": "x", "text": "a"}']}, r"corpus.jsonl:1: missing '_id'"),
        ({"corpus": ['{"_id": "d1", "title": "x"}']}, r"corpus.jsonl:1: document 'd1' has no 'text'"),
        ({"corpus": ['{"_id": "d1", "text": "a"}', '{"_id": "d1", "text": "b"}']}, r"corpus.jsonl:2: duplicate document id 'd1'"),
        ({"queries": ['{"_id": "q1", "text": "a"}', '{"_id": "q1", "text": "b"}']}, r"queries.jsonl:2: duplicate query id 'q1'"),
        ({"qrels": ["q9\td1\t1"]}, r"test.tsv:1: unknown query id 'q9'"),
        ({"qrels": ["query-id\tcorpus-id\tscore", "q1\td9\t1"]}, r"test.tsv:2: unknown document id 'd9'"),
        ({"qrels": ["q1\td1\thigh"]}, r"test.tsv:1: relevance score 'high' is not an integer"),
        ({"qrels": ["q1\td1"]}, r"test.tsv:1: expected 3 tab-separated fields"),
        ({"qrels": ["q1\td1\t1", "q1\td1\t2"]}, r"test.tsv:2: duplicate judgement"),
        ({"queries": ['{"_id": "q1", "text": ""}', '{"_id": "q2", "text": "b"}']}, r"test.tsv:\d+: query 'q1' has an empty text"),
        ({"corpus": b'{"_id": "d1", "text": "caf\xe9"}\n'}, r"corpus.jsonl:1: not valid UTF-8"),
        ({"corpus": []}, r"corpus file is empty"),
        ({"queries": "<missing>"}, r"queries file not found"),
        ({"qrels": ["q2\td3\t0"]}, r"no query has a positive"),
    ],
)
def test_beir_folder_errors_name_file_and_line(beir_folder, kwargs, message):
    root = beir_folder(**kwargs)
    if kwargs.get("corpus") == []:
        (root / "corpus.jsonl").write_text("")
    with pytest.raises(DataError, match=message):
        load_beir_folder(root)


def test_missing_folder_and_missing_split(tmp_path, beir_folder):
    with pytest.raises(DataError, match="data folder not found"):
        load_beir_folder(tmp_path / "nope")
    ds = load_beir_folder(beir_folder())
    with pytest.raises(DataError, match="has no split 'train'"):
        ds.split("train")


def test_grades_zero_and_negative_are_judged_non_relevant(beir_folder):
    ds = load_beir_folder(beir_folder(qrels=["q1\td1\t2", "q1\td2\t0", "q1\td3\t-1", "q2\td2\t1"]))
    assert ds.split("test")["q1"] == {"d1": 2, "d2": 0, "d3": 0}  # kept, the negative one read as 0
    assert ds.warnings["judged_non_relevant_pairs"] == 2 and ds.warnings["negative_grades_read_as_0"] == 1


def test_harmless_problems_are_counted_not_fatal(beir_folder):
    ds = load_beir_folder(beir_folder(
        corpus=['{"_id": "d1", "text": "a"}', '{"_id": "d2", "title": "", "text": ""}'],
        qrels=["q1\td1\t1", "q2\td2\t0"],
    ))
    assert ds.warnings["empty_documents"] == 1
    assert ds.warnings["queries_without_positive"] == 1
    assert list(ds.split("test")) == ["q1"]  # q2 has no positive: dropped from the split


def test_pairs_jsonl_builds_deduplicated_corpus(tmp_path):
    p = tmp_path / "pairs.jsonl"
    rows = [
        {"query": "reset device", "positive": "Hold reset for 10 s.", "negative": ["Backups run nightly."]},
        {"query": "backup time", "pos": ["Backups run nightly.", "Backups can be scheduled."], "neg": ["Hold reset for 10 s."]},
        {"query": "update", "positives": "Updates are automatic."},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"text": "Unlabeled passage."}\n{"title": "T", "text": "Backups can be scheduled."}\n')
    ds = load_pairs_jsonl(p, extra_corpus=extra)
    texts = {d["text"] for d in ds.corpus.values()}
    assert len(ds.corpus) == len(texts) == 6  # 4 labeled + 2 extra ("T Backups..." differs from the untitled one)
    qrels = ds.split("all")
    by_text = {d["text"]: i for i, d in ds.corpus.items()}
    assert qrels["q1"] == {by_text["Backups run nightly."]: 1, by_text["Backups can be scheduled."]: 1, by_text["Hold reset for 10 s."]: 0}
    ensure_splits(ds, "train", "test", {"train": 0.67, "test": 0.33}, seed=0)
    assert set(ds.split("train")) | set(ds.split("test")) == {"q0", "q1", "q2"}
    assert not set(ds.split("train")) & set(ds.split("test"))


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"query": "q", "positive": []}', r"pairs.jsonl:1: 'positive' is an empty list"),
        ('{"query": "q"}', r"pairs.jsonl:1: missing 'positive'"),
        ('{"query": "", "positive": "p"}', r"pairs.jsonl:1: missing or empty 'query'"),
        ('{"query": "q", "positive": ["  "]}', r"pairs.jsonl:1: 'positive' contains an empty passage"),
        ('{"query": "q", "positive": "p", "negative": [1]}', r"pairs.jsonl:1: 'negative' must be a string or a list"),
        ('["q", "p"]', r"pairs.jsonl:1: expected a JSON object"),
    ],
)
def test_pairs_jsonl_errors(tmp_path, line, message):
    p = tmp_path / "pairs.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(DataError, match=message):
        load_pairs_jsonl(p)


def test_split_by_query_is_deterministic_disjoint_and_stable():
    qrels = {f"q{i}": {"d": 1} for i in range(100)}
    a = split_by_query(qrels, {"train": 0.7, "dev": 0.1, "test": 0.2}, seed=3)
    b = split_by_query(dict(reversed(list(qrels.items()))), {"train": 0.7, "dev": 0.1, "test": 0.2}, seed=3)
    assert {k: sorted(v) for k, v in a.items()} == {k: sorted(v) for k, v in b.items()}
    assert [len(a[k]) for k in ("train", "dev", "test")] == [70, 10, 20]
    assert set().union(*a.values()) == set(qrels)
    c = split_by_query(qrels, {"train": 0.7, "dev": 0.1, "test": 0.2}, seed=4)
    assert sorted(c["test"]) != sorted(a["test"])
    with pytest.raises(DataError, match="bad split ratios"):
        split_by_query(qrels, {"train": -1}, seed=0)


def test_carve_dev_never_touches_other_queries():
    train = {f"q{i}": {"d": 1} for i in range(20)}
    rest, dev = carve_dev(train, 0.2, seed=0)
    assert len(dev) == 4 and len(rest) == 16 and not set(rest) & set(dev)
    with pytest.raises(DataError, match="too few"):
        carve_dev({"q1": {"d": 1}}, 0.5, seed=0)


def test_beir_hub_offline_fails_with_a_local_folder_hint(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=r"could not load 'BeIR/scifact'.*data=beir_local data.path="):
        load_beir_hub("scifact")


def test_beir_hub_converts_hub_rows(monkeypatch):
    """Up to the network boundary: the calls made and the conversion of what comes back."""
    import datasets

    calls = []

    def fake_load_dataset(repo, config=None, split=None, revision=None):
        calls.append((repo, config, split))
        if repo == "BeIR/scifact" and config == "corpus":
            return [{"_id": "d1", "title": "T", "text": "body"}, {"_id": "d2", "title": "", "text": "other"}]
        if repo == "BeIR/scifact" and config == "queries":
            return [{"_id": "q1", "text": "question"}, {"_id": "q2", "text": "another"}]
        if repo == "BeIR/scifact-qrels":
            return {"train": [{"query-id": "q1", "corpus-id": "d1", "score": 1}],
                    "test": [{"query-id": "q2", "corpus-id": "d2", "score": 1}]}
        raise AssertionError(repo)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load_beir_hub("scifact")
    assert calls == [("BeIR/scifact", "corpus", "corpus"), ("BeIR/scifact", "queries", "queries"), ("BeIR/scifact-qrels", None, None)]
    assert ds.name == "scifact" and ds.source == "hf://BeIR/scifact"
    assert ds.split("train") == {"q1": {"d1": 1}} and ds.split("test") == {"q2": {"d2": 1}}


@pytest.mark.shared_data
def test_cranfield_counts(shared_data):
    ds = load_beir_folder(shared_data / "cranfield")
    assert len(ds.corpus) == 1400
    assert len(ds.split("all")) == 225
    assert len(ds.split("train")) == 135 and len(ds.split("test")) == 90
    assert sum(len(v) for v in ds.split("train").values()) == 945
    assert not set(ds.split("train")) & set(ds.split("test"))
    assert ds.warnings["empty_documents"] == 2


def test_bundled_demo_is_a_valid_data_set():
    ds = load_demo()
    assert len(ds.corpus) >= 200 and len(ds.queries) >= 100
    assert ds.split("train") and ds.split("test")
    assert not set(ds.split("train")) & set(ds.split("test"))
    assert not ds.warnings


def test_the_dev_carve_has_its_own_seed_or_the_training_one():
    from omegaconf import OmegaConf

    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError
    from rerankft.data.dataset import carve_dev, dev_seed

    train = {f"q{i}": {"d": 1} for i in range(40)}
    cfg = OmegaConf.create({"train": {"seed": 7}, "data": {"dev_seed": None}})
    assert dev_seed(cfg) == 7  # null: the training seed, as every run before this key
    fixed = [OmegaConf.create({"train": {"seed": s}, "data": {"dev_seed": 3}}) for s in (7, 8)]
    carves = [carve_dev(train, 0.2, dev_seed(c))[1] for c in fixed]
    assert carves[0] == carves[1] != carve_dev(train, 0.2, 8)[1]  # two training seeds, one dev split
    with pytest.raises(ConfigError, match="data.dev_seed='x'"):
        validate_config(OmegaConf.create({"train": {"seed": 7}, "data": {"dev_seed": "x"}}))


def test_train_queries_caps_the_labelled_queries_nested_and_leaves_dev_alone():
    from omegaconf import OmegaConf

    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError
    from rerankft.data.dataset import RetrievalDataset, training_split

    ds = RetrievalDataset("toy", {"d": {"title": "", "text": "x"}}, {f"q{i}": "x" for i in range(50)},
                          {"train": {f"q{i}": {"d": 1} for i in range(50)}})

    def split(n):
        cfg = OmegaConf.create({"train": {"seed": 7}, "data": {"splits": {"train": "train"}, "dev_fraction": 0.2,
                                                               "dev_seed": None, "train_queries": n}})
        return training_split(ds, cfg)

    (all_train, dev), (ten, dev10), (twenty, dev20) = split(None), split(10), split(20)
    assert len(all_train) == 40 and len(dev) == 10 and split(40)[0] == all_train == split(99)[0]
    assert dev10 == dev20 == dev  # the label budget never moves the dev queries
    assert len(ten) == 10 and len(twenty) == 20 and set(ten) < set(twenty) < set(all_train)  # nested samples
    assert not set(twenty) & set(dev)
    for bad in (0, -3, "10", 2.5, True):
        with pytest.raises(ConfigError, match="data.train_queries="):
            validate_config(OmegaConf.create({"train": {"seed": 7}, "data": {"train_queries": bad}}))
