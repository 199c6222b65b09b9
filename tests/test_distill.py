"""scripts/distill.py: a shallower student of a tuned model, distilled from its margins, benchmarked next to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_distributed import write_beir

REPO = Path(__file__).resolve().parents[1]


def test_kept_layers_spread_and_bad_values_name_the_key():
    from rerankft.core.errors import ConfigError
    from rerankft.training.distill import kept_layers

    assert kept_layers(6, 3) == [0, 2, 4]  # every other layer
    assert kept_layers(12, 4) == [0, 3, 6, 9]
    assert kept_layers(6, 6) == list(range(6))
    for bad in (0, 7, "3", True):
        with pytest.raises(ConfigError, match="layers="):
            kept_layers(6, bad)


def test_shallow_copy_keeps_every_other_layer_with_the_teachers_weights(tmp_path):
    """The gated segment_cosine model (the default head) keeps layers 0, 2, 4 exactly, and the saved
    student loads as a CrossEncoder and in rerankft.Reranker."""
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.build import build_cross_encoder
    from rerankft.modeling.heads import make_portable
    from rerankft.scoring.reranker import Reranker
    from rerankft.training.distill import shallow_copy
    from tests.test_training import compose_cfg

    cfg = compose_cfg("model.head=segment_cosine")
    teacher = build_cross_encoder(cfg.model, 48)
    tdir = tmp_path / "teacher"
    teacher.save_pretrained(str(tdir))
    make_portable(tdir, teacher)
    student, kept = shallow_copy(tdir, 3, 48)
    assert kept == [0, 2, 4] and student.model.config.num_hidden_layers == 3
    t_layers, s_layers = teacher.model.encoder.layer, student.model.encoder.layer
    assert len(s_layers) == 3
    for s_i, t_i in enumerate(kept):
        for (name, p_s), (_, p_t) in zip(s_layers[s_i].named_parameters(), t_layers[t_i].named_parameters()):
            assert torch.equal(p_s, p_t), name
    sdir = tmp_path / "student"
    student.save_pretrained(str(sdir))
    make_portable(sdir, student)
    assert json.loads((sdir / "config.json").read_text())["num_hidden_layers"] == 3
    pairs = [("my wifi does not work", "Wifi guide: reset the router"), ("printer jam", "Battery care")]
    ce = CrossEncoder(str(sdir), trust_remote_code=True, max_length=48)
    want = ce.predict(pairs)
    got = Reranker(str(sdir), max_length=48).score(pairs)
    assert np.allclose(got, want, atol=1e-5) and np.isfinite(got).all()


@pytest.mark.slow
def test_distill_script_trains_saves_and_benchmarks_a_student(tmp_path):
    data = write_beir(tmp_path / "beir")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(tmp_path / "cache")}
    run = tmp_path / "run"
    train = [sys.executable, str(REPO / "scripts" / "train.py"), "data=beir_local", f"data.path={data}", "data.dev_fraction=0.3",
             "retriever=bm25", "miner.range_min=1", "miner.range_max=10", "miner.num_negatives=2", "miner.num_random_negatives=1",
             "train.max_steps=4", "train.batch_size=2", "train.max_length=48", "dev.top_k=5", "rerank.top_k=5",
             "eval.first_stages=[bm25]", "eval.bootstrap_samples=50", "eval.latency_queries=0", "adapt.passages=8",
             "adapt.max_steps=2", f"hydra.run.dir={run}"]
    res = subprocess.run(train, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "distill"
    cmd = [sys.executable, str(REPO / "scripts" / "distill.py"), f"run_dir={run}", "layers=2", "max_steps=3",
           "batch_size=4", f"hydra.run.dir={out}"]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "distill.json").read_text())
    assert summary["kept_layers"] == [0, 3] and summary["steps"] == 3
    assert summary["rows"]["mined"] > 0 and summary["rows"]["pseudo"] > 0  # the run's own rows and its pseudo-query rows
    assert set(summary["test_ndcg@10"]) == {"bm25>>tuned", "bm25>>student"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cost"]["bm25>>student"]["pairs"] == metrics["cost"]["bm25>>tuned"]["pairs"] > 0
    from sentence_transformers import CrossEncoder

    student = CrossEncoder(str(run / "student-L2"), trust_remote_code=True)
    assert student.model.config.num_hidden_layers == 2 and student.predict([("my wifi does not work", "Wifi")]).shape == (1,)
    # its int8 backends calibrate on the run's own pairs, as the teacher's do
    teacher_pairs = json.loads((run / "model" / "calibration_pairs.json").read_text())
    assert teacher_pairs and json.loads((run / "student-L2" / "calibration_pairs.json").read_text()) == teacher_pairs
    # a missing run directory: one line naming the key, exit 2
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "distill.py"), f"run_dir={tmp_path / 'nope'}",
                          f"hydra.run.dir={tmp_path / 'd2'}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "run_dir=" in res.stderr
