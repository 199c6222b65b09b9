"""benchmarks/bench_quality.py: argument split and the comparison table built from a run's files."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_quality  # noqa: E402

from rerankft.evaluation.benchmark import run_benchmark  # noqa: E402
from tests.test_benchmark import FakeReranker, cfg, make_dataset, noisy_run  # noqa: E402


def test_overrides_after_double_dash_reach_train_py_and_options_stay_options():
    a = bench_quality.parse_args(["../d1", "--out", "/tmp/o", "--", "train.epochs=1", "loss=bce"])
    assert a.folders == ["../d1"] and a.out == "/tmp/o" and a.overrides == ["train.epochs=1", "loss=bce"]
    assert bench_quality.parse_args(["../d1", "../d2"]).overrides == []


def test_table_reads_the_run_files(tmp_path):
    ds = make_dataset()
    fs = {"bm25": noisy_run(ds, 1, 10), "dense": noisy_run(ds, 2, 10)}
    run_benchmark(cfg(eval={"rerank_first_stages": ["bm25"]}), ds, {"base": "reverse", "tuned": "good"}, tmp_path,
                  first_stage_runs=fs, reranker_factory=lambda spec: FakeReranker(spec, ds), fusion={"tuned": {"bm25": 0.3}})
    (tmp_path / "train_done.json").write_text(json.dumps({"train": {"seconds": 100.0}, "dev": {"base_dev": 0.2, "best_dev": 0.3, "queries": 5}}))
    (tmp_path / "bench_wall.json").write_text(json.dumps({"wall_s": 321.0}))
    text = bench_quality.table([tmp_path])
    rows = {line.split("|")[2].strip(): line for line in text.splitlines() if line.startswith("| tiny")}
    assert set(rows) == {"bm25", "bm25>>base", "bm25>>tuned", "bm25>>tuned+fusion", "dense", "(run)"}
    assert "w=0.3 (dev)" in rows["bm25>>tuned+fusion"] and "total 321 s" in rows["(run)"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert f"{metrics['systems']['bm25>>tuned']['nDCG@10']:.3f}" in rows["bm25>>tuned"]
    assert "(p=" in rows["bm25>>tuned"] and "oracle" not in text


def test_a_folder_that_is_not_beir_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="not a BEIR folder"):
        bench_quality.main([str(tmp_path)])


def test_bench_dev_grid_and_table():
    import bench_dev

    assert bench_dev.settings(["a=1"], []) == [["a=1"]]
    assert bench_dev.settings([], ["x=1,2", "y=a,b"]) == [["x=1", "y=a"], ["x=1", "y=b"], ["x=2", "y=a"], ["x=2", "y=b"]]
    rows = [{"settings": "x=1", "seconds": 3.0, "final": "bm25>>tuned", "dev_ndcg@10": {"bm25": 0.3, "bm25>>tuned": 0.4}},
            {"settings": "x=2", "seconds": 2.0, "final": "dense", "dev_ndcg@10": {"dense": 0.5}}]
    text = bench_dev.table(rows)
    assert "| x=1" in text and "0.4000" in text and "nan" in text and "dense" in text.splitlines()[0]


def test_dev_only_run_stops_before_the_test_split_and_its_table_reads_dev_json(tmp_path):
    """dev.only=true through scripts/train.py: the dev choices are written, no test query is scored."""
    import os
    import subprocess

    run = tmp_path / "run"
    smoke = ["experiment=demo_smoke", "retriever=bm25", "eval.first_stages=[bm25,dense]", "train.max_steps=2", "dev.top_k=3",
             "train.batch_size=2", "train.max_length=48", "rerank.top_k=5", "rerank.max_length=48", "adapt.passages=4",
             "adapt.max_steps=1", "dev.only=true", f"hydra.run.dir={run}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, str(bench_quality.REPO / "scripts" / "train.py"), *smoke], cwd=bench_quality.REPO,
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    dev = json.loads((run / "dev.json").read_text())
    assert dev["fusion"]["final"] in dev["fusion"]["dev_ndcg@10"] and {"bm25", "dense"} <= set(dev["fusion"]["dev_ndcg@10"])
    share = dev["fusion"]["final_stability"]["share"]  # how often each system wins a bootstrap resample of dev
    assert set(share) <= set(dev["fusion"]["dev_ndcg@10"]) and sum(share.values()) == pytest.approx(1.0, abs=0.01)
    assert set(dev["timings"]) >= {"data", "mining", "training", "dev_fusion"} and "test_benchmark" not in dev["timings"]
    for claim in ("metrics.json", "report.md", "per_query.tsv"):  # the test split was never scored
        assert not (run / claim).exists(), claim
    text = bench_quality.table([run])
    rows = [line for line in text.splitlines() if line.startswith(f"| {run.name}")]
    assert any("FINAL (chosen on dev, " in r and "% of resamples)" in r and dev["fusion"]["final"] in r for r in rows)
    assert any("(run)" in r and "timings" in r for r in rows)


def test_score_as_text_puts_each_passages_bm25_level_before_it_in_rows_and_reranking(tmp_path, monkeypatch):
    """benchmarks/bench_score_as_text.py: Askari et al.'s [CLS] q [SEP] n [SEP] p [SEP], n the query's BM25 level 0..100."""
    import bench_score_as_text as sat
    import numpy as np

    from rerankft.data.dataset import RetrievalDataset
    from rerankft.mining.rows import MinedRow, MiningResult
    from rerankft.scoring.reranker import Reranker

    corpus = {"a": {"title": "", "text": "wing flutter at supersonic speed"}, "b": {"title": "", "text": "wing loads"},
              "c": {"title": "", "text": "boundary layer heat transfer"}, "d": {"title": "", "text": "   "}}
    ds = RetrievalDataset("t", corpus, {"q": "supersonic wing flutter"}, {"train": {"q": {"a": 1}}})
    levels = sat.BM25Levels(tmp_path)
    assert (levels(ds, "q", "a"), levels(ds, "q", "c")) == (100, 0) and 0 < levels(ds, "q", "b") < 100
    for cls, name in ((MiningResult, "to_dataset"), (Reranker, "rerank_run")):  # restored after the test
        monkeypatch.setattr(cls, name, getattr(cls, name))
    sat.install(levels)

    mined = MiningResult(ds, [MinedRow("q", "a", 1, 1.0, ["b", "c"], [0.5, 0.1], 2)], negatives_per_row=2)
    row = mined.to_dataset("ntuples")[0]
    assert row == {"query": "supersonic wing flutter", "positive": "100 [SEP] wing flutter at supersonic speed",
                   "negative_1": f"{levels(ds, 'q', 'b')} [SEP] wing loads", "negative_2": "0 [SEP] boundary layer heat transfer"}

    seen = []

    class Scorer(Reranker):
        def __init__(self):
            self.name = "fake"

        def score(self, pairs, desc=None):
            seen.extend(pairs)
            return np.arange(len(pairs), dtype=np.float32)

    out = Scorer().rerank_run(ds, {"q": {"c": 3.0, "d": 2.0, "a": 1.0}}, top_k=3)
    assert [p for _, p in seen] == ["0 [SEP] boundary layer heat transfer", "0 [SEP] ", "100 [SEP] wing flutter at supersonic speed"]
    assert min(out["q"], key=out["q"].get) == "d"  # an empty passage still goes last: its own text decides, not the prefix


def test_bench_choice_scores_each_rule_on_dev_queries_it_did_not_choose_on():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_choice

    fused = "hybrid>>tuned+fusion"
    # A fused system whose weights fitted on all three queries (a tie, so the first grid point) would
    # score 1/3, but each query held out gets the point fitted on the other two, which misses it: 0.
    table = {"q1": [0.0, 1.0], "q2": [0.5, 0.0], "q3": [0.5, 0.0]}
    per_query = {"dense": {"q1": 0.2, "q2": 0.4, "q3": 0.6}, "dense>>tuned": {"q1": 0.9, "q2": 0.1, "q3": 0.2},
                 fused: {q: 0.0 for q in table}}
    out = bench_choice.nested_loo(per_query, {fused: ([{}, {}], table)}, fused, [0.0, 0.99], seed=0)
    assert out["queries"] == 3
    assert out["mean"][fused] == pytest.approx(0.0)
    assert out["mean"]["dense"] == pytest.approx(0.4) and out["mean"]["dense>>tuned"] == pytest.approx(0.4)
    # The plain dev maximum on each pair of left-in queries, scored on the held-out one: without q1
    # dense (0.5; the fused system's held-out 0.5 ties and the simpler wins) -> 0.2; without q2
    # dense>>tuned (0.55 vs 0.4) -> 0.1; without q3 dense>>tuned (0.5 vs 0.3) -> 0.2.
    assert out["chosen"]["rule@0"] == {"dense>>tuned": 2, "dense": 1}
    assert out["mean"]["rule@0"] == pytest.approx((0.2 + 0.1 + 0.2) / 3)
    # With a share no maximum of two queries reaches, every fold falls back to the prior.
    assert out["chosen"]["rule@0.99"] == {fused: 3} and out["mean"]["rule@0.99"] == pytest.approx(0.0)


def test_bench_choice_chooses_within_the_pool_and_still_scores_every_system():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_choice

    fused = "dense>>tuned+fusion"
    table = {"q1": [0.0, 1.0], "q2": [0.5, 0.0], "q3": [0.5, 0.0]}  # held out within any two queries: 0 each
    per_query = {"dense": {"q1": 0.2, "q2": 0.4, "q3": 0.6}, "dense>>tuned": {"q1": 0.9, "q2": 0.1, "q3": 0.2},
                 fused: {q: 0.0 for q in table}}
    every = bench_choice.nested_loo(per_query, {fused: ([{}, {}], table)}, fused, [0.0], seed=0)
    pooled = bench_choice.nested_loo(per_query, {fused: ([{}, {}], table)}, fused, [0.0], seed=0, pool="fused")
    assert every["chosen"]["rule@0"] == {"dense>>tuned": 2, "dense": 1}
    # dense>>tuned's fused variant is there, so it no longer competes: dense is the maximum on every fold
    assert pooled["chosen"]["rule@0"] == {"dense": 3} and pooled["mean"]["rule@0"] == pytest.approx(0.4)
    assert pooled["mean"]["dense>>tuned"] == pytest.approx(0.4)  # still scored as a fixed system


def test_bench_choice_refits_each_fused_system_with_the_picker_it_is_given():
    """Replays refit a fused system by the run's own rule (run_rows passes weight_picker), not always the argmax."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_choice

    fused = "hybrid>>tuned+fusion"
    table = {"q1": [0.0, 1.0], "q2": [0.5, 0.0], "q3": [0.5, 0.0]}  # the argmax without q1 is point 0, which misses q1
    per_query = {"dense": {"q1": 0.2, "q2": 0.4, "q3": 0.6}, fused: {q: 0.0 for q in table}}
    argmax = bench_choice.nested_loo(per_query, {fused: ([{}, {}], table)}, fused, [0.99], seed=0)
    second = bench_choice.nested_loo(per_query, {fused: ([{}, {}], table)}, fused, [0.99], seed=0,
                                     pickers={fused: lambda qs: 1})
    assert argmax["mean"][fused] == pytest.approx(0.0)
    assert second["mean"][fused] == pytest.approx(1 / 3)  # point 1 on each held-out query: 1.0, 0.0, 0.0
    # without q1, dense wins every resample of q2 and q3 (-> 0.2 on q1); otherwise the prior, refitted by the
    # picker, scores 0.0 on q2 and q3
    assert second["chosen"]["rule@0.99"] == {fused: 2, "dense": 1}
    assert second["mean"]["rule@0.99"] == pytest.approx(0.2 / 3)


def test_bench_choice_best_prior_takes_the_candidates_of_the_first_stage_best_on_each_folds_left_in_queries():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_choice

    # dense leads on q1 and q2, hybrid on q3 by more: which stage is best depends on the fold.
    per_query = {"bm25": {"q1": 0.1, "q2": 0.1, "q3": 0.1}, "dense": {"q1": 0.6, "q2": 0.6, "q3": 0.0},
                 "hybrid": {"q1": 0.5, "q2": 0.5, "q3": 0.9}}
    for name in ("dense>>tuned", "hybrid>>tuned"):
        per_query[name] = {q: 0.0 for q in per_query["bm25"]}
    out = bench_choice.nested_loo(per_query, {}, "best>>tuned", [1.01], seed=0)  # no maximum is ever clear: the prior each time
    # without q1 or q2: hybrid (0.70 vs 0.30); without q3: dense (0.6 vs 0.5)
    assert out["chosen"]["rule@1.01"] == {"hybrid>>tuned": 2, "dense>>tuned": 1}
    assert bench_choice._resolve_prior("hybrid>>tuned", per_query) == "hybrid>>tuned"  # a named prior stays as it is


def test_bench_choice_replays_a_run_with_each_prior_and_refuses_a_folder_that_is_not_one(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import bench_choice
    from omegaconf import OmegaConf

    from rerankft.evaluation.fusion_fit import DevSystems

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("data: {name: toy, splits: {train: train}, dev_fraction: 0.5}\n"
                                     "train: {seed: 0}\nrerank: {fusion: false}\n")
    qids = [f"q{i}" for i in range(6)]
    per_query = {"dense": {q: 0.5 for q in qids}, "dense>>tuned": {q: 0.6 for q in qids}, "hybrid>>tuned": {q: 0.4 for q in qids}}
    seen = {}
    monkeypatch.setattr(bench_choice, "load_from_config", lambda cfg: type("D", (), {"split": lambda self, s: {}})())
    monkeypatch.setattr(bench_choice, "training_split", lambda dataset, cfg: ({}, {q: {} for q in qids}))
    monkeypatch.setattr(bench_choice, "run_model_dir", lambda r, what: r / "model")

    def fake_score(cfg, dataset, dev, model_dir, fusion):
        seen["fusion"] = fusion
        seen["top_k"] = OmegaConf.select(cfg, "rerank.top_k")
        return DevSystems(per_query, {}, {}, {})

    monkeypatch.setattr(bench_choice, "score_dev_systems", fake_score)
    real_loo = bench_choice.nested_loo
    monkeypatch.setattr(bench_choice, "nested_loo", lambda *a, **k: seen.update(pool=k["pool"]) or real_loo(*a, **k))
    # Without fusion a +fusion prior means its unfused system; dense>>tuned wins every query, so every rule keeps it.
    assert bench_choice.main([str(run), "--thresholds", "0,0.7", "--priors", "hybrid>>tuned+fusion,dense"]) == 0
    out = capsys.readouterr().out
    assert seen["fusion"] is False
    assert "rule@0.7 (hybrid>>tuned)" in out and "rule@0.7 (dense)" in out and "dense>>tuned 6" in out
    assert seen["top_k"] is None  # the run's own config: no depth recorded in this toy one
    assert bench_choice.main([str(run), "--thresholds", "0.7", "--set", "rerank.top_k=50"]) == 0
    assert seen["top_k"] == 50 and seen["fusion"] is False  # the setting reaches the rescoring; the run's own keys stay
    assert seen["pool"] == "all"  # a run made before dev.pool existed: every system competed
    assert bench_choice.main([str(run), "--thresholds", "0.7", "--set", "dev.pool=fused"]) == 0
    assert seen["pool"] == "fused"
    capsys.readouterr()
    assert bench_choice.main([str(run), "--set", "rerank.top_k"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err
    assert bench_choice.main([str(tmp_path)]) == 2
    assert "not a train run directory" in capsys.readouterr().err


def test_bench_seeds_accepts_runs_sharing_a_dev_split_and_refuses_others(beir_folder, tmp_path):
    import bench_seeds
    from omegaconf import OmegaConf

    queries = [f'{{"_id": "q{i}", "text": "question {i}"}}' for i in range(20)]
    qrels = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{1 + i % 3}\t1" for i in range(20)]
    folder = beir_folder(queries=queries, qrels=qrels, split="all")  # train and test carved from it

    def run(name, seed, dev):
        d = tmp_path / name
        d.mkdir()
        data = {"kind": "beir_local", "path": str(folder), "name": None, "splits": {"train": "train", "test": "test"},
                "split_ratios": {"train": 0.8, "test": 0.2}, "split_seed": 0, "dev_fraction": 0.2, "dev_seed": dev}
        OmegaConf.save(OmegaConf.create({"data": data, "train": {"seed": seed}}), d / "config.yaml")
        return d

    _, _, dev = bench_seeds.shared_dev([run("a", 42, 42), run("b", 43, 42)])
    assert len(dev) == 3  # a fifth of the 16 training queries
    with pytest.raises(SystemExit, match="dev queries differ"):
        bench_seeds.shared_dev([run("c", 42, None), run("d", 43, None)])  # each carved with its own training seed


def _label_run(root: Path, queries: int, seed: int, tuned: float, fused: float, full: bool = False) -> Path:
    run = root / f"n{queries}-s{seed}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"train: {{seed: {seed}}}\ndata: {{train_queries: {queries}}}\n")
    (run / "mining.json").write_text(json.dumps({"queries": queries}))
    values = {"bm25": 0.3, "bm25>>tuned": tuned, "dense>>tuned": tuned + 0.02, "bm25>>tuned+fusion": fused}
    fusion, dev, timings = {"dev_ndcg@10": values, "final": "bm25>>tuned+fusion"}, {"best_dev": tuned}, {"training": 100.0 * queries}
    if full:  # a train run that went on to test: the same dev choices, in its own files
        (run / "fusion.json").write_text(json.dumps(fusion))
        (run / "train_done.json").write_text(json.dumps({"dev": dev}))
        (run / "metrics.json").write_text(json.dumps({"timings": timings}))
    else:
        (run / "dev.json").write_text(json.dumps({"fusion": fusion, "dev": dev, "timings": timings}))
    return run


def test_label_curve_table_groups_runs_by_their_labelled_queries_and_averages_seeds(tmp_path):
    import bench_labels

    _label_run(tmp_path, 10, 42, 0.30, 0.40)
    _label_run(tmp_path, 10, 43, 0.40, 0.50, full=True)
    _label_run(tmp_path, 5, 42, 0.20, 0.25)
    rows = bench_labels.table(sorted(tmp_path.iterdir())).splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == ["5", "10"]  # ordered by budget, not by name
    cells = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert cells[1] == "42, 43"
    assert cells[2] == "0.3600 (0.3100 / 0.4100)"  # tuned alone: mean over candidate sets, then over seeds
    assert cells[3] == "0.4500 (0.4000 / 0.5000)" and cells[6] == "1000 s"
    assert bench_labels.parse_args(["d", "--budgets", "27", "all"]).budgets == ["27", "all"]


def test_interpolated_model_mixes_every_tensor_and_the_gate_and_keeps_the_tuned_folder_at_one(tmp_path):
    import bench_interpolate
    import torch
    from safetensors.torch import load_file, save_file

    def folder(name, weight, head_scale, gate):
        d = tmp_path / name
        (d / "1_SegmentCosineScore").mkdir(parents=True)
        save_file({"w": torch.full((2, 3), weight), "b": torch.zeros(3)}, d / "model.safetensors")
        save_file({"scale": torch.tensor(head_scale)}, d / "1_SegmentCosineScore" / "model.safetensors")
        (d / "config.json").write_text(json.dumps({"segment_gate": gate, "segment_cosine_scale": head_scale, "hidden_size": 3}))
        (d / "tokenizer.json").write_text("{}")
        return d

    start, tuned = folder("start", 0.0, 20.0, -4.0), folder("tuned", 2.0, 22.0, -3.0)
    mid = bench_interpolate.interpolate(start, tuned, 0.25, tmp_path / "mid")
    assert torch.allclose(load_file(mid / "model.safetensors")["w"], torch.full((2, 3), 0.5))
    assert float(load_file(mid / "1_SegmentCosineScore" / "model.safetensors")["scale"]) == pytest.approx(20.5)
    conf = json.loads((mid / "config.json").read_text())
    assert conf["segment_gate"] == pytest.approx(-3.75) and conf["hidden_size"] == 3
    assert (mid / "tokenizer.json").is_file()  # everything but the weights is the tuned folder's
    past = bench_interpolate.interpolate(start, tuned, 1.5, tmp_path / "mid")  # an existing folder is replaced
    assert float(load_file(past / "model.safetensors")["w"][0, 0]) == pytest.approx(3.0)
    one = bench_interpolate.interpolate(start, tuned, 1.0, tmp_path / "one")
    assert (one / "model.safetensors").read_bytes() == (tuned / "model.safetensors").read_bytes()  # cache hits
    save_file({"other": torch.zeros(1)}, start / "model.safetensors")
    with pytest.raises(SystemExit, match="different tensors"):
        bench_interpolate.interpolate(start, tuned, 0.5, tmp_path / "bad")


def test_tuned_space_bi_encoder_scores_as_the_cross_encoder_does_with_a_shut_gate(tmp_path):
    """bench_prf --tuned-space: a gated model's encoder weights, pooled and normalised, are the
    bi-encoder whose cosine that model computes when its gate is shut (passage [CLS] in)."""
    import bench_prf
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from rerankft.modeling.heads import build_segment_cosine_cross_encoder, make_portable
    from rerankft.modeling.names import resolve_model_name
    from tests.rerank_fixtures import TOPICS

    model = build_segment_cosine_cross_encoder(resolve_model_name("sentence-transformers/all-MiniLM-L6-v2"), 256,
                                               segment_gate=-1e4, passage_cls=True)
    with torch.no_grad():  # move the weights off the packaged bi-encoder's, so the check is not trivially the same model
        model[0].model.embeddings.word_embeddings.weight.mul_(1.5)
    model.save_pretrained(str(tmp_path / "model"))
    assert make_portable(tmp_path / "model", model)
    bi = SentenceTransformer(bench_prf.tuned_as_bi_encoder(tmp_path / "model", tmp_path / "bi"))
    query, passages = TOPICS[2][0], [p for _, p in TOPICS]
    cos = bi.similarity(bi.encode([query]), bi.encode(passages))[0].numpy()
    with torch.no_grad():
        want = model.predict([(query, p) for p in passages]) / 20.0
    assert np.abs(cos - want).max() < 1e-4


def test_bench_fusion_title_signal_reads_the_title_alone_and_the_whole_passage_without_one():
    import bench_fusion
    from omegaconf import OmegaConf

    from rerankft.data.dataset import RetrievalDataset
    from rerankft.retrieval.dense import DenseRetriever

    corpus = {"titled": {"title": "wing flutter at supersonic speed", "text": "a recipe for apple pie with cinnamon"},
              "plain": {"title": "", "text": "boundary layer heat transfer on a flat plate"}}
    ds = RetrievalDataset("toy", corpus, {"q": "supersonic wing flutter"}, {"train": {"q": {"titled": 1}}})
    candidates = {"q": {"titled": 0.0, "plain": 0.0}}
    cfg = OmegaConf.create({"retriever": {"kind": "bm25"}})
    title = bench_fusion.title_signal(cfg, ds, candidates)["q"]
    dense = DenseRetriever({}, cache_dir=None)
    whole = dict(zip(candidates["q"], dense.score_pairs(ds, [("q", d) for d in candidates["q"]])))
    alone = {"title": "", "text": corpus["titled"]["title"]}
    only_title = RetrievalDataset("toy", {**corpus, "titled": alone}, ds.queries, ds.qrels)
    assert title["titled"] == pytest.approx(float(dense.score_pairs(only_title, [("q", "titled")])[0]), abs=1e-5)
    assert title["titled"] > whole["titled"] + 0.1  # the pie recipe in the body no longer dilutes it
    assert title["plain"] == pytest.approx(whole["plain"], abs=1e-5)  # no title: the whole passage
