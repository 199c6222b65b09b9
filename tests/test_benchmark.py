"""run_benchmark end to end on tiny synthetic data with fake first stages and rerankers; resolve_rerankers."""

import json
import random

import pytest
from omegaconf import OmegaConf

from rerankft.core.errors import ConfigError, ModelError
from rerankft.core.metrics import evaluate_run
from rerankft.data.dataset import RetrievalDataset
from rerankft.evaluation.benchmark import run_benchmark, safe_filename
from rerankft.evaluation.rerankers import resolve_rerankers


def make_dataset(n_queries=16, n_docs=40, seed=0):
    rng = random.Random(seed)
    corpus = {f"d{i}": {"title": "", "text": f"passage {i}"} for i in range(n_docs)}
    queries = {f"q{i}": f"query {i}" for i in range(n_queries)}
    qrels = {q: {f"d{rng.randrange(n_docs)}": rng.choice([1, 2, 3]) for _ in range(3)} for q in queries}
    return RetrievalDataset("tiny", corpus, queries, {"test": qrels})


def noisy_run(ds, seed, depth):
    rng = random.Random(seed)
    run = {}
    for q in ds.qrels["test"]:
        if q == "q0":
            continue  # a query the first stage returns nothing for: must score 0, not vanish
        scores = {d: rng.random() for d in ds.corpus}
        for d, g in ds.qrels["test"][q].items():
            scores[d] += 0.3 * g * rng.random()
        run[q] = dict(sorted(scores.items(), key=lambda x: -x[1])[:depth])
    return run


class FakeReranker:
    """'good' scores by the qrels (plus noise); 'reverse' reverses the candidates. Records what it was given."""

    seen: dict = {}

    def __init__(self, spec, ds):
        self.spec, self.ds = spec, ds
        self.stats = {"pairs": 0, "scored": 0, "cache_hits": 0, "truncated_pairs": 0, "seconds": 0.0,
                      "pairs_per_s": 0.0, "backend": "fake", "device": "cpu", "max_length": 256}

    def rerank_run(self, dataset, run, top_k, query_ids=None, desc=None):
        FakeReranker.seen.setdefault(self.spec, []).append({q: sorted(v) for q, v in run.items()})
        rng = random.Random(1)
        out = {}
        for q in (run if query_ids is None else query_ids):  # like the real rerankers: only the queries asked for
            docs = run.get(q, {})
            assert len(docs) <= top_k
            if self.spec == "reverse":
                out[q] = {d: -s for d, s in docs.items()}
            else:
                out[q] = {d: dataset.qrels["test"][q].get(d, 0) + rng.random() * 1.5 for d in docs}
            self.stats["pairs"] += len(docs)
            self.stats["scored"] += len(docs)
        self.stats["truncated_pairs"] += len(out)  # one per query asked for, to check the counters' deltas
        return out


def cfg(**over):
    base = {
        "rerank": {"top_k": 5},
        "eval": {"split": "test", "measures": ["nDCG@10", "RR@10", "R@5", "R@10"], "significance_alpha": 0.05,
                 "bootstrap_samples": 200, "permutations": 500, "seed": 0},
    }
    return OmegaConf.merge(OmegaConf.create(base), OmegaConf.create(over))


@pytest.fixture
def bench(tmp_path):
    ds = make_dataset()
    fs = {"bm25": noisy_run(ds, 1, 10), "dense": noisy_run(ds, 2, 10)}
    FakeReranker.seen = {}
    rerankers = {"base": "reverse", "tuned": "good"}
    metrics = run_benchmark(cfg(), ds, rerankers, tmp_path, first_stage_runs=fs,
                            reranker_factory=lambda spec: FakeReranker(spec, ds))
    return ds, fs, metrics, tmp_path


def test_writes_every_output_with_the_documented_shape(bench):
    ds, fs, metrics, out = bench
    for name in ("metrics.json", "per_query.tsv", "report.md", "report.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["dataset"] == "tiny" and on_disk["split"] == "test" and on_disk["top_k"] == 5
    expected = {f"{f}{s}" for f in fs for s in ("", ">>base", ">>tuned", ">>oracle")}
    assert set(on_disk["systems"]) == expected
    for values in on_disk["systems"].values():
        assert set(values) == {"nDCG@10", "RR@10", "R@5", "R@10"}
        assert all(isinstance(v, float) and 0 <= v <= 1 for v in values.values())
    for s in expected:
        trec = out / "runs" / f"{safe_filename(s)}.trec"
        assert trec.is_file(), trec
        assert ">" not in trec.name
        first = trec.read_text().splitlines()[0].split()
        assert len(first) == 6 and first[1] == "Q0" and first[3] == "1"
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (out / "per_query.tsv").read_text().splitlines()
    assert lines[0] == "system\tquery_id\tmeasure\tvalue"
    assert len(lines) - 1 == len(expected) * 4 * len(ds.qrels["test"])  # every query, q0 included
    assert on_disk["cost"]["bm25>>tuned"]["pairs"] == sum(len(v) for v in fs["bm25"].values()) // 2
    # stats are cumulative in the reranker; the second first stage's numbers are that call's alone
    assert on_disk["cost"]["dense>>tuned"]["truncated_pairs"] == len(ds.qrels["test"])  # each query asked once
    assert on_disk["cost"]["dense>>tuned"]["max_length"] == 256 and on_disk["cost"]["dense>>tuned"]["device"] == "cpu"
    report = (out / "report.md").read_text()
    assert "Recall@k for k >= 5 equals the first stage's" in report
    assert "| bm25>>tuned" in report and "headroom" in report


def test_every_reranker_gets_the_same_candidates(bench):
    seen = FakeReranker.seen
    assert seen["reverse"] == seen["good"]
    assert all(len(docs) == 5 for q, docs in seen["good"][0].items())


def test_reranking_leaves_recall_at_top_k_equal_to_the_first_stage(bench):
    _, fs, metrics, _ = bench
    sy = metrics["systems"]
    for f in fs:
        for s in ("base", "tuned", "oracle"):
            assert sy[f"{f}>>{s}"]["R@5"] == pytest.approx(sy[f]["R@5"])
            assert sy[f"{f}>>{s}"]["R@10"] == pytest.approx(sy[f]["R@10"])  # tail kept in first-stage order
        assert sy[f"{f}>>oracle"]["nDCG@10"] >= max(sy[f]["nDCG@10"], sy[f"{f}>>tuned"]["nDCG@10"])


def test_metrics_match_an_independent_evaluation_of_the_written_runs(bench):
    from rerankft.core.runs import read_trec_run

    ds, _, metrics, out = bench
    run = read_trec_run(out / "runs" / f"{safe_filename('bm25>>tuned')}.trec")
    agg, _ = evaluate_run(ds.qrels["test"], run, ["nDCG@10"])
    assert agg["nDCG@10"] == pytest.approx(metrics["systems"]["bm25>>tuned"]["nDCG@10"])


def test_statistics_headroom_and_marks(bench):
    _, _, metrics, out = bench
    comps = metrics["comparisons"]
    # 2 first stages x (base vs fs, base vs other fs, tuned vs fs, tuned vs other fs, tuned vs base) x 4 measures
    assert len(comps) == 2 * 5 * 4
    assert {c["kind"] for c in comps} == {"first_stage", "other_first_stage", "base"}
    for c in comps:
        assert 0 <= c["p"] <= c["p_holm"] <= 1
        assert c["significant"] == (c["p_holm"] < 0.05)
    for s, by_m in metrics["headroom"].items():
        h = by_m["nDCG@10"]
        f = s.split(">>")[0]
        sy = metrics["systems"]
        assert h == pytest.approx((sy[s]["nDCG@10"] - sy[f]["nDCG@10"]) / (sy[f + ">>oracle"]["nDCG@10"] - sy[f]["nDCG@10"]))
        assert by_m["R@5"] is None  # oracle = first stage on recall at top_k: no headroom
    for f in ("bm25", "dense"):
        assert metrics["first_stages"][f]["recall_at_top_k"] == pytest.approx(metrics["systems"][f]["R@5"])
    for s in metrics["systems"]:
        for m, (lo, hi) in metrics["ci95"][s].items():
            assert lo <= metrics["systems"][s][m] + 1e-9 and metrics["systems"][s][m] <= hi + 1e-9


CROSS_ENCODER_CONFIG = '{"architectures": ["BertForSequenceClassification"]}'


def test_resolve_rerankers_checks_paths_before_loading(tmp_path):
    c = OmegaConf.create({"model": {"name": "sentence-transformers/all-MiniLM-L6-v2"}, "tuned": None, "rerankers": ["base"]})
    assert resolve_rerankers(c) == {"base": "sentence-transformers/all-MiniLM-L6-v2"}

    c.rerankers = ["base", "tuned"]
    with pytest.raises(ModelError, match="tuned is not set"):
        resolve_rerankers(c)
    c.tuned = str(tmp_path / "nope")
    with pytest.raises(ModelError, match="no such folder"):
        resolve_rerankers(c)
    run = tmp_path / "run"
    run.mkdir()
    c.tuned = str(run)
    with pytest.raises(ModelError, match="model/"):
        resolve_rerankers(c)
    (run / "model").mkdir()
    (run / "model" / "config.json").write_text(CROSS_ENCODER_CONFIG)
    assert resolve_rerankers(c)["tuned"] == str(run / "model")
    assert resolve_rerankers(c)["base"] == "sentence-transformers/all-MiniLM-L6-v2"
    (run / "base_model").mkdir()  # a run that built a new head keeps its untrained model: that is "base"
    assert resolve_rerankers(c)["base"] == str(run / "base_model")
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(CROSS_ENCODER_CONFIG)
    c.tuned = str(folder)
    assert resolve_rerankers(c)["tuned"] == str(folder)

    # A bi-encoder folder where a reranker is expected fails from its config files, before any loading.
    bi = tmp_path / "bi-encoder"
    bi.mkdir()
    (bi / "config.json").write_text('{"architectures": ["BertModel"]}')
    (bi / "modules.json").write_text('[{"type": "sentence_transformers.models.Pooling"}]')
    (bi / "config_sentence_transformers.json").write_text('{"model_type": "SentenceTransformer"}')
    c.tuned = str(bi)
    with pytest.raises(ModelError, match="not a cross-encoder"):
        resolve_rerankers(c)
    c.tuned = str(folder)

    c.rerankers = [str(tmp_path / "missing-model")]
    with pytest.raises(ModelError, match="does not exist"):
        resolve_rerankers(c)
    c.rerankers = [str(folder), "cross-encoder/ms-marco-MiniLM-L-6-v2"]
    assert resolve_rerankers(c) == {"my-model": str(folder), "cross-encoder/ms-marco-MiniLM-L-6-v2": "cross-encoder/ms-marco-MiniLM-L-6-v2"}


def test_safe_filename():
    assert safe_filename("bm25>>tuned") == "bm25__tuned"
    assert safe_filename("dense>>cross-encoder/ms marco") == "dense__cross-encoder_ms_marco"


def test_default_first_stage_path_with_real_bm25(beir_folder, tmp_path):
    """The retrieval wiring (build_first_stage) with a real BM25, rerankers faked."""
    from rerankft.data.loading import load_beir_folder

    ds = load_beir_folder(beir_folder())
    c = cfg(eval={"first_stages": ["bm25"], "measures": ["RR@10", "R@100"]}, rerank={"top_k": 2})
    c.cache_dir = str(tmp_path / "cache")
    metrics = run_benchmark(c, ds, {"base": "good"}, tmp_path / "out", reranker_factory=lambda spec: FakeReranker(spec, ds))
    assert set(metrics["systems"]) == {"bm25", "bm25>>base", "bm25>>oracle"}
    assert metrics["first_stages"]["bm25"]["depth"] == 100
    assert metrics["systems"]["bm25>>oracle"]["RR@10"] == 1.0  # every positive is in BM25's top 2 here
    assert metrics["systems"]["bm25>>base"]["R@100"] == metrics["systems"]["bm25"]["R@100"]


@pytest.mark.slow
def test_default_reranker_path_with_the_packaged_model(beir_folder, tmp_path):
    """The real Reranker (packaged MiniLM, fresh head) through run_benchmark: loads, scores, reports cost."""
    from rerankft.data.loading import load_beir_folder

    ds = load_beir_folder(beir_folder())
    c = cfg(eval={"first_stages": ["bm25"], "measures": ["nDCG@10"]}, rerank={"top_k": 3, "max_length": 64, "cache": False})
    c.cache_dir = str(tmp_path / "cache")
    metrics = run_benchmark(c, ds, {"base": "sentence-transformers/all-MiniLM-L6-v2"}, tmp_path / "out")
    cost = metrics["cost"]["bm25>>base"]
    assert cost["pairs"] == metrics["first_stages"]["bm25"]["candidates"] > 0
    assert cost["device"] == "cpu" and cost["backend"] == "torch" and cost["pairs_per_s"] > 0 and cost["max_length"] == 64
    assert 0.0 <= metrics["systems"]["bm25>>base"]["nDCG@10"] <= metrics["systems"]["bm25>>oracle"]["nDCG@10"] + 1e-9


@pytest.mark.slow
def test_base_with_a_fresh_head_is_reproducible():
    """The packaged bi-encoder as `base` gets a random scoring head; the benchmark seeds it."""
    from rerankft.evaluation.rerankers import make_reranker_factory as reranker_factory

    make = reranker_factory(OmegaConf.create({"eval": {"seed": 0}, "rerank": {"max_length": 32, "cache": False}}))
    pairs = [("reset the device", "hold the reset button"), ("backups", "nightly at 2 am")]
    a = make("sentence-transformers/all-MiniLM-L6-v2").score(pairs)
    b = make("sentence-transformers/all-MiniLM-L6-v2").score(pairs)
    assert a.tolist() == b.tolist()


def test_rerank_first_stages_limits_which_candidates_are_reranked(tmp_path):
    ds = make_dataset()
    fs = {"bm25": noisy_run(ds, 1, 10), "dense": noisy_run(ds, 2, 10)}
    FakeReranker.seen = {}
    metrics = run_benchmark(cfg(eval={"rerank_first_stages": ["bm25"]}), ds, {"base": "reverse", "tuned": "good"}, tmp_path,
                            first_stage_runs=fs, reranker_factory=lambda spec: FakeReranker(spec, ds))
    assert set(metrics["systems"]) == {"bm25", "bm25>>base", "bm25>>tuned", "bm25>>oracle", "dense", "dense>>oracle"}
    # the reranked systems are still compared with the first stage that was not reranked
    assert any(c["system"] == "bm25>>tuned" and c["baseline"] == "dense" for c in metrics["comparisons"])
    assert "tuned beats dense" in (tmp_path / "report.md").read_text() or "tuned trails dense" in (tmp_path / "report.md").read_text()
    with pytest.raises(ConfigError, match="rerank_first_stages"):
        run_benchmark(cfg(eval={"rerank_first_stages": ["splade"]}), ds, {"base": "reverse"}, tmp_path / "x",
                      first_stage_runs=fs, reranker_factory=lambda spec: FakeReranker(spec, ds))


def test_a_users_trec_run_is_benchmarked_as_a_first_stage_by_default():
    from rerankft.evaluation.rerankers import first_stage_names

    assert first_stage_names(cfg(eval={"first_stages": ["bm25", "dense"]})) == ["bm25", "dense"]
    with_run = cfg(eval={"first_stages": ["bm25"]}, retriever={"kind": "trec_run", "path": "x.trec"})
    assert first_stage_names(with_run) == ["run", "bm25"]
    explicit = cfg(eval={"first_stages": ["bm25", "run"]}, retriever={"kind": "trec_run", "path": "x.trec"})
    assert first_stage_names(explicit) == ["bm25", "run"]


def test_windowed_scoring_through_the_benchmark_is_counted_in_cost_and_report(beir_folder, tmp_path):
    """rerank.long_docs reaches the benchmark's reranker; metrics.json and report.md say how much was windowed."""
    from rerankft.data.loading import load_beir_folder
    from rerankft.evaluation.report import cost_lines

    import json

    filler = " ".join(["The device keeps its settings in flash memory and shows them on the status page."] * 4)
    corpus = [json.dumps({"_id": "d1", "title": "Reset", "text": filler + " Hold the reset button for ten seconds."}),
              json.dumps({"_id": "d2", "title": "Backup", "text": "Backups run nightly at 2 am. " + filler}),
              json.dumps({"_id": "d3", "title": "", "text": "Firmware updates install automatically."})]
    ds = load_beir_folder(beir_folder(corpus=corpus))
    c = cfg(eval={"first_stages": ["bm25"], "measures": ["nDCG@10"], "latency_queries": 0},
            rerank={"top_k": 3, "max_length": 24, "cache": False, "long_docs": "maxp", "window": None, "stride": None})
    c.cache_dir = str(tmp_path / "cache")
    metrics = run_benchmark(c, ds, {"base": "sentence-transformers/all-MiniLM-L6-v2"}, tmp_path / "out")
    cost = metrics["cost"]["bm25>>base"]
    assert cost["long_docs"] == "maxp" and 0 < cost["windowed_passages"] <= cost["pairs"]
    assert cost["windows"] >= 2 * cost["windowed_passages"]
    line = next(x for x in cost_lines(metrics) if x.startswith("- bm25>>base"))
    assert f"long_docs=maxp: {cost['windowed_passages']} of {cost['pairs']} passages were longer than one window" in line
