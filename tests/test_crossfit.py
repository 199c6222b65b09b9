"""Cross-fitting (``dev.folds=k``): the folds, the shared label-free stage, the weight average, the recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from rerankft.config import validate_config
from rerankft.core.errors import ConfigError, DataError
from rerankft.data.dataset import (
    RetrievalDataset,
    dev_folds,
    fold_splits,
    training_split,
)
from rerankft.evaluation.fusion_fit import models_by_query

REPO = Path(__file__).resolve().parents[1]


def _dataset(n: int = 20) -> RetrievalDataset:
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(n)}
    return RetrievalDataset(name="toy", corpus={f"d{i}": {"title": "", "text": f"passage {i}"} for i in range(n)},
                            queries={f"q{i}": f"query {i}" for i in range(n)}, qrels={"train": qrels})


def _cfg(**dev):
    return OmegaConf.create({"data": {"splits": {"train": "train"}, "dev_fraction": 0.2, "dev_seed": 42, "train_queries": None},
                             "train": {"seed": 42}, "dev": dev})


def test_every_training_query_is_dev_in_exactly_one_fold_and_trains_in_the_others():
    ds = _dataset(20)
    splits = fold_splits(ds, _cfg(folds=3), 3)
    devs = [set(dev) for _, dev in splits]
    assert sorted(len(d) for d in devs) == [6, 7, 7]  # as even as 20 / 3 allows
    assert set().union(*devs) == set(ds.qrels["train"]) and sum(len(d) for d in devs) == 20  # a partition
    for train, dev in splits:
        assert set(train) == set(ds.qrels["train"]) - set(dev)
    assert [set(d) for _, d in fold_splits(ds, _cfg(folds=3), 3)] == devs  # seeded: the same folds again
    other_seed = _cfg(folds=3)
    other_seed.data.dev_seed = 7
    assert [set(d) for _, d in fold_splits(ds, other_seed, 3)] != devs
    capped = _cfg(folds=3)
    capped.data.train_queries = 5
    assert all(len(train) == 5 for train, _ in fold_splits(ds, capped, 3))  # the label cap applies per fold
    # With dev.folds unset the single carve is unchanged.
    train, dev = training_split(ds, _cfg())
    assert len(dev) == 4 and len(train) == 16


@pytest.mark.parametrize("value", [1, 0, -2, "3", True, 2.5])
def test_bad_dev_folds_is_refused_naming_the_key(value):
    with pytest.raises(ConfigError, match="dev.folds"):
        dev_folds(_cfg(folds=value))
    assert dev_folds(_cfg(folds=None)) is None and dev_folds(_cfg(folds=4)) == 4


def test_more_folds_than_training_queries_is_a_data_error():
    with pytest.raises(DataError, match="dev.folds=30 is more than the 20"):
        fold_splits(_dataset(20), _cfg(folds=30), 30)


def test_dev_folds_refuses_what_cross_fitting_cannot_do():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base=None):
        for extra, key in ((["bi_encoder=mnrl"], "bi_encoder=mnrl"), (["train.resume=/tmp/x"], "train.resume")):
            cfg = compose(config_name="train", overrides=["dev.folds=3", *extra])
            with pytest.raises(ConfigError, match=f"dev.folds with {key}"):
                validate_config(cfg)
        validate_config(compose(config_name="train", overrides=["dev.folds=3"]))  # alone it is fine


def test_each_dev_query_is_scored_by_its_own_fold_model():
    assert models_by_query("/m", ["a", "b"]) == {"/m": ["a", "b"]}
    assert models_by_query({"a": "/f0", "b": "/f1", "c": "/f0"}, ["a", "b", "c"]) == {"/f0": ["a", "c"], "/f1": ["b"]}
    with pytest.raises(ValueError, match="no fold model"):
        models_by_query({"a": "/f0"}, ["a", "b"])


def test_the_label_free_stage_runs_once_and_later_folds_load_its_weights(tmp_path):
    from rerankft.training.adapt import adapt_once

    shared = tmp_path / "adapted.pt"
    first, second = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    calls = []

    def run():  # what adapt_on_pseudo_queries does to the model, in miniature
        calls.append(1)
        with torch.no_grad():
            first.weight.fill_(0.5)
        return {"steps": 7}

    assert adapt_once(shared, first, run) == {"steps": 7} and shared.is_file()
    summary = adapt_once(shared, second, lambda: pytest.fail("the stage ran twice"))
    assert calls == [1] and summary["steps"] == 7 and summary["reused_from"] == str(shared)
    assert torch.equal(second.weight, first.weight) and torch.equal(second.bias, first.bias)
    assert adapt_once(None, second, lambda: {"steps": 1}) == {"steps": 1}  # no file: runs, keeps nothing


def test_weight_average_of_two_models_is_one_portable_model_with_the_mean_weights(tmp_path):
    from rerankft.modeling.build import build_cross_encoder
    from rerankft.modeling.heads import make_portable
    from rerankft.scoring.loading import load_cross_encoder
    from rerankft.training.soup import average_models

    folders = []
    for i, shift in enumerate((0.0, 0.02)):
        model = build_cross_encoder(OmegaConf.create({"name": "sentence-transformers/all-MiniLM-L6-v2", "head": "segment_cosine",
                                                      "segment_gate": -4.0}), 48)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(shift)
        folder = tmp_path / f"m{i}"
        model.save_pretrained(str(folder))
        make_portable(folder, model)
        folders.append(folder)
    soup = average_models(folders, tmp_path / "soup")
    a, b, s = (load_cross_encoder(str(f)).state_dict() for f in (*folders, soup))
    for key in ("0.segment_gate", "0.model.encoder.layer.3.attention.self.query.weight", "1.scale"):
        assert torch.allclose(s[key], (a[key] + b[key]) / 2, atol=1e-6), key
        assert not torch.allclose(s[key], a[key])
    assert (soup / "modeling_rerankft.py").is_file()  # loads where rerankft is not installed, as a trained model does
    pairs = [("fix the router", "How to fix a router"), ("fix the router", "Refund policy")]
    assert load_cross_encoder(str(soup)).predict(pairs).shape == (2,)


@pytest.mark.slow
def test_cross_fitted_run_chooses_on_every_training_query_and_scores_test_with_the_average(tmp_path):
    run = tmp_path / "run"
    smoke = ["experiment=demo_smoke", "retriever=bm25", "eval.first_stages=[bm25,dense]", "train.max_steps=2", "dev.top_k=3",
             "train.batch_size=2", "train.max_length=48", "rerank.top_k=5", "rerank.max_length=48", "adapt.passages=4",
             "adapt.max_steps=1", "eval.latency_queries=0", "dev.folds=2", f"hydra.run.dir={run}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), *smoke], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "weights reused from" in res.stderr + res.stdout  # fold 2 loaded fold 1's label-free stage
    fusion = json.loads((run / "fusion.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    folds = metrics["dev"]["folds"]
    assert len(folds) == 2 and fusion["dev_queries"] == sum(f["queries"] for f in folds) > 100  # every training query, once
    assert [d.name for d in sorted((run / "folds").iterdir()) if d.is_dir()] == ["fold0", "fold1"]
    assert all((run / "folds" / f / "model" / "model.safetensors").is_file() for f in ("fold0", "fold1"))
    assert metrics["rerankers"]["tuned"] == str(run / "model") and (run / "model" / "modeling_rerankft.py").is_file()
    assert metrics["final"]["system"] == fusion["final"]
