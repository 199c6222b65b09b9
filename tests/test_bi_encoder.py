"""The bi-encoder's fine-tune (bi_encoder=mnrl) and its use as the fused systems' dense signal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from rerankft.core.errors import ConfigError, ModelError
from tests.test_training import TOPICS, make_dataset, make_mined

REPO = Path(__file__).resolve().parents[1]
BASE = "sentence-transformers/all-MiniLM-L6-v2"  # the packaged checkpoint offline


def compose(*overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=list(overrides))


def test_the_group_is_off_by_default_and_on_with_mnrl():
    assert compose().bi_encoder.kind == "none"
    assert compose("bi_encoder=mnrl").bi_encoder.kind == "mnrl"


def test_training_rows_are_each_positive_with_its_first_hard_negative():
    from rerankft.training.bi_encoder import training_triples

    ds = make_dataset()
    rows = training_triples(make_mined(ds, ["q0", "q1"]))
    assert rows.column_names == ["anchor", "positive", "negative"]
    assert rows[0] == {"anchor": ds.queries["q0"], "positive": ds.doc_text("d0"), "negative": ds.doc_text("d1")}


def test_fit_bi_encoder_moves_the_weights_and_saves_a_bi_encoder_that_loads(tmp_path):
    from sentence_transformers import SentenceTransformer

    from rerankft.modeling.names import resolve_model_name
    from rerankft.training.bi_encoder import fit_bi_encoder

    ds = make_dataset()
    mined = make_mined(ds, [f"q{i}" for i in range(8)])
    bi = OmegaConf.create({"kind": "mnrl", "epochs": 1, "max_steps": 2, "learning_rate": 1e-4, "batch_size": 4, "max_seq_length": 32})
    out = tmp_path / "run" / "bi_encoder"
    out.parent.mkdir()
    summary = fit_bi_encoder(bi, SentenceTransformer(resolve_model_name(BASE)), mined, out, seed=3, precision="fp32")
    assert summary["steps"] == 2 and summary["rows"] == 8 and summary["model_dir"] == str(out)
    assert not (tmp_path / "run" / "bi_encoder_checkpoints").exists()  # nothing but the model is left behind
    texts = [ds.queries["q0"], ds.doc_text("d0")]
    tuned = SentenceTransformer(str(out)).encode(texts, normalize_embeddings=True)
    base = SentenceTransformer(resolve_model_name(BASE)).encode(texts, normalize_embeddings=True)
    assert tuned.shape == base.shape and not np.allclose(tuned, base, atol=1e-4)


def test_build_signal_scores_with_the_given_bi_encoder_and_only_for_dense(tmp_path):
    from rerankft.retrieval.factory import build_first_stage, build_signal

    cfg = compose("retriever=dense", "retriever.batch_size=7")
    signal = build_signal("dense", cfg, None, model=str(tmp_path))
    assert signal.model_name == str(tmp_path) and signal.batch_size == 7  # the run's dense settings, its own model
    assert build_signal("dense", cfg, None).model_name == build_first_stage("dense", cfg, None).model_name == BASE
    assert build_signal("bm25", cfg, None).name == "bm25"
    with pytest.raises(ConfigError, match="only for the dense signal"):
        build_signal("bm25", cfg, None, model=str(tmp_path))


def test_a_tuned_bi_encoder_adds_dense_ft_and_hybrid_ft_first_stages_beside_the_untrained_ones(tmp_path):
    from rerankft.evaluation.rerankers import first_stage_names
    from rerankft.retrieval.dense import DenseRetriever
    from rerankft.retrieval.factory import build_first_stage
    from rerankft.retrieval.hybrid import HybridRetriever

    cfg = compose("retriever=dense", "retriever.batch_size=7", "eval.first_stages=[bm25,dense,hybrid]")
    models = {"dense": str(tmp_path)}
    assert first_stage_names(cfg) == ["bm25", "dense", "hybrid"]  # no tuned bi-encoder: the untrained ones only
    assert first_stage_names(cfg, models) == ["bm25", "dense", "hybrid", "dense-ft", "hybrid-ft"]
    assert first_stage_names(compose("eval.first_stages=[bm25]"), models) == ["bm25"]  # BM25 has no bi-encoder to tune
    dense_ft = build_first_stage("dense-ft", cfg, None, models)
    assert isinstance(dense_ft, DenseRetriever) and dense_ft.model_name == str(tmp_path) and dense_ft.batch_size == 7
    hybrid_ft = build_first_stage("hybrid-ft", cfg, None, models)
    assert isinstance(hybrid_ft, HybridRetriever)
    assert hybrid_ft.components["dense"].model_name == str(tmp_path) and hybrid_ft.components["dense"].batch_size == 7
    assert build_first_stage("hybrid", cfg, None, models).components["dense"].model_name == BASE  # the baseline is untouched
    with pytest.raises(ConfigError, match="'dense-ft' needs a fine-tuned bi-encoder"):
        build_first_stage("dense-ft", cfg, None)


def test_dev_prior_may_name_a_tuned_first_stage():
    from rerankft.config import validate_config

    validate_config(compose("dev.prior='hybrid-ft>>tuned+fusion'"))
    with pytest.raises(ConfigError, match="dev.prior='bm25-ft>>tuned' is not a system name"):  # BM25 has no bi-encoder
        validate_config(compose("dev.prior='bm25-ft>>tuned'"))


def test_signal_models_are_found_relative_to_the_run_and_a_missing_one_is_named(tmp_path):
    from rerankft.evaluation.rerankers import read_fusion

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "bi_encoder").mkdir()
    (run / "fusion.json").write_text(json.dumps({"weights": {"hybrid": {"bm25": 0.1, "dense": 0.5}},
                                                 "signal_models": {"dense": "bi_encoder"}}))
    moved = tmp_path / "moved"
    run.rename(moved)  # a run directory copied elsewhere still finds its own bi-encoder
    assert read_fusion(str(moved / "model"))["signal_models"] == {"dense": str(moved / "bi_encoder")}
    (moved / "bi_encoder").rmdir()
    with pytest.raises(ModelError, match=r"fusion.json: the fused system's dense signal 'bi_encoder' is not a folder"):
        read_fusion(str(moved))


def test_the_fused_dense_signal_is_the_tuned_bi_encoder_on_dev_and_on_test(monkeypatch):
    """Dev fitting and the test benchmark score the dense signal with the run's bi-encoder; first stages keep theirs."""
    from rerankft.evaluation import benchmark, fusion_fit
    from rerankft.modeling.names import resolve_model_name

    built = []
    real = fusion_fit.build_signal

    def spy(name, cfg, cache_dir, model=None):
        built.append((name, model))
        return real(name, cfg, cache_dir, model)

    class Closing:
        def close(self):
            pass

    def fake_rerank_shared(reranker, dataset, union, width, qids, desc):  # the tuned model: a fixed score per pair
        return {q: {d: -abs(int(d[1:]) - int(q[1:])) for d in docs} for q, docs in union.items()}

    monkeypatch.setattr(fusion_fit, "build_signal", spy)
    monkeypatch.setattr(benchmark, "build_signal", spy)
    monkeypatch.setattr(fusion_fit, "make_reranker_factory", lambda cfg: lambda spec: Closing())
    monkeypatch.setattr(fusion_fit, "rerank_shared", fake_rerank_shared)
    ds = make_dataset()
    dev_qrels = {f"q{i}": ds.qrels["train"][f"q{i}"] for i in range(len(TOPICS))}
    cfg = compose("retriever=bm25", "eval.first_stages=[bm25,dense]", "rerank.top_k=4", "cache_dir=null")
    bi = resolve_model_name(BASE)  # stands in for a run's tuned bi-encoder: only who scores what is tested here
    scored = fusion_fit.score_dev_systems(cfg, ds, dev_qrels, "unused", fusion=True, signal_models={"dense": bi})
    assert built == [("dense", bi)]  # the dense signal has its own model; BM25's signal is the BM25 first stage
    assert {"bm25", "dense", "bm25>>tuned+fusion", "dense>>tuned+fusion"} <= set(scored.per_query)

    built.clear()
    reranked = {q: {f"d{(int(q[1:]) + k) % len(TOPICS)}": 1.0 - 0.1 * k for k in range(4)} for q in dev_qrels}
    fused = benchmark._fused_scores(cfg, ds, reranked, reranked, {"bm25": 0.2, "dense": 0.5}, {"dense": bi})
    assert sorted(built, key=str) == [("bm25", None), ("dense", bi)]
    assert all(set(fused[q]) == set(reranked[q]) for q in reranked)


@pytest.mark.slow
def test_a_train_run_and_its_evaluation_fuse_the_same_tuned_bi_encoder(tmp_path):
    """scripts/train.py fine-tunes the bi-encoder into <run>/bi_encoder; scripts/eval.py tuned=<run>/model
    reads it from fusion.json and reproduces the run's fused figures."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(tmp_path / "cache")}
    common = ["experiment=demo_smoke", "eval.first_stages=[bm25,hybrid]", "eval.latency_queries=0", "rerank.top_k=10"]
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "scripts/train.py", *common, "bi_encoder=mnrl", "dev.prior=null", f"hydra.run.dir={run}"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    fusion = json.loads((run / "fusion.json").read_text())
    assert fusion["signal_models"] == {"dense": "bi_encoder"} and (run / "bi_encoder" / "model.safetensors").is_file()
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["fusion"]["tuned+fusion"]["signal_models"] == {"dense": str(run / "bi_encoder")}
    assert trained["bi_encoder"]["steps"] == 2 and trained["timings"]["bi_encoder"] > 0
    fused = [s for s in trained["systems"] if s.endswith(">>tuned+fusion")]
    assert fused and "hybrid-ft" in trained["systems"] and "dense-ft" not in trained["systems"]  # twins of eval.first_stages only
    ev = tmp_path / "eval"
    r = subprocess.run([sys.executable, "scripts/eval.py", *common, "rerankers=[tuned]", f"tuned={run / 'model'}",
                        f"hydra.run.dir={ev}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    evaluated = json.loads((ev / "metrics.json").read_text())
    for name in [*fused, "hybrid-ft"]:  # the tuned first stage is rebuilt from fusion.json's bi-encoder too
        assert evaluated["systems"][name]["nDCG@10"] == pytest.approx(trained["systems"][name]["nDCG@10"], abs=1e-9)
