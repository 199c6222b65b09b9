"""Several processes: data-parallel training writes one run directory; evaluation split over processes
gives the single process's metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOPICS = [
    "router", "printer", "battery", "password", "backup", "invoice", "refund", "shipping", "firmware", "wifi",
    "screen", "keyboard", "camera", "speaker", "charger", "account", "license", "calendar", "email", "storage",
]


def write_beir(root: Path) -> Path:
    """20 passages; 14 train queries, 6 test queries; one relevant passage each."""
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as f:
        for i, t in enumerate(TOPICS):
            f.write(json.dumps({"_id": f"d{i}", "title": t.title(), "text": f"How to fix a {t} problem: the {t} guide covers {t} settings."}) + "\n")
    with open(root / "queries.jsonl", "w") as f:
        for i, t in enumerate(TOPICS):
            f.write(json.dumps({"_id": f"q{i}", "text": f"my {t} does not work"}) + "\n")
    for split, ids in (("train", range(14)), ("test", range(14, 20))):
        rows = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in ids]
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_two_process_cpu_launch_writes_one_run_directory(tmp_path):
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if accelerate is None:
        pytest.skip("accelerate CLI not installed")
    data = write_beir(tmp_path / "beir")
    overrides = [
        "data=beir_local", f"data.path={data}", "data.dev_fraction=0.3", "retriever=bm25",
        "miner.range_min=1", "miner.range_max=10", "miner.num_negatives=2", "miner.num_random_negatives=1",
        "loss=bce", "train.max_steps=4", "train.eval_steps=2", "train.batch_size=2", "train.max_length=48",
        "train.logging_steps=1", "dev.top_k=5", "rerank.top_k=5", "eval.first_stages=[bm25]", "eval.bootstrap_samples=50",
        "adapt.passages=8", "adapt.max_steps=2",
    ]
    # CPU processes (gloo) on every machine: on a one-GPU machine two ranks would ask for two GPUs.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    env.pop("RERANKFT_RUN_DIR", None)
    # `accelerate launch --cpu --num_processes 2` starts ONE process with the installed accelerate
    # (its CPU launcher only fans out through mpirun); --multi_gpu on a machine without CUDA starts
    # two through torch.distributed.run, and training.py then selects MULTI_CPU / gloo.
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", str(REPO / "scripts" / "train.py"), *overrides]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-4000:])

    runs = list((tmp_path / "outputs" / "train").iterdir())
    assert len(runs) == 1, f"ranks disagreed on the run directory: {runs}"
    run = runs[0]
    for name in ("model", "train_log.jsonl", "train_done.json", "metrics.json", "config.yaml", "run_info.json", "mining.json"):
        assert (run / name).exists(), name
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    starts = [r for r in log if r["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # only rank 0 writes the log
    assert [r["step"] for r in log if r["event"] == "train"] == [1, 2, 3, 4]
    done = json.loads((run / "train_done.json").read_text())
    assert done["train"]["global_step"] == 4 and done["dev"]["best_step"] in (2, 4)

    from sentence_transformers import CrossEncoder

    assert CrossEncoder(str(run / "model"), trust_remote_code=True).predict([("my wifi does not work", "Wifi guide")]).shape == (1,)


def _accelerate():
    exe = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if exe is None:
        pytest.skip("accelerate CLI not installed")
    # --multi_gpu on a machine without CUDA: two CPU processes over gloo (see the training test).
    return [exe, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no"]


def test_two_process_eval_gives_the_single_process_metrics(tmp_path):
    """`accelerate launch ... scripts/eval.py`: each rank scores its share of the test queries (and of
    the corpus encoding: shard_min_docs=0), rank 0 gathers and writes; every figure equals one process's."""
    data = write_beir(tmp_path / "beir")
    overrides = ["data=beir_local", f"data.path={data}", "retriever=dense", "retriever.shard_min_docs=0",
                 "rerankers=[base]", "rerank.top_k=5", "rerank.max_length=64", "eval.bootstrap_samples=50",
                 "eval.permutations=200", "eval.latency_queries=2", "eval.rerank_first_stages=null"]
    metrics = {}
    for name, launcher in (("one", [sys.executable]), ("two", _accelerate())):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(tmp_path / f"cache-{name}"), "OMP_NUM_THREADS": "1",
               "CUDA_VISIBLE_DEVICES": ""}  # CPU processes (gloo), also on a GPU machine
        env.pop("RERANKFT_RUN_DIR", None)
        out = tmp_path / f"run-{name}"
        cmd = [*launcher, str(REPO / "scripts" / "eval.py"), *overrides]
        if name == "one":
            cmd.append(f"hydra.run.dir={out}")
        else:
            env["RERANKFT_RUN_DIR"] = str(out)  # what a launch uses for one shared run directory
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, (name, res.stdout[-2000:], res.stderr[-4000:])
        metrics[name] = json.loads((out / "metrics.json").read_text())
    one, two = metrics["one"], metrics["two"]
    assert two["cost"]["bm25>>base"]["processes"] == 2 and one["cost"]["bm25>>base"]["processes"] == 1
    assert set(one["systems"]) == set(two["systems"]) and any(">>base" in s for s in one["systems"])
    assert one["systems"] == two["systems"]  # every measure of every system, exactly
    assert one["comparisons"] == two["comparisons"]
    # every pair was scored once in all: the ranks' shares add up to the single process's count
    assert two["cost"]["bm25>>base"]["scored_pairs"] == one["cost"]["bm25>>base"]["scored_pairs"] > 0
    runs_one = sorted(p.name for p in (tmp_path / "run-one" / "runs").iterdir())
    assert runs_one == sorted(p.name for p in (tmp_path / "run-two" / "runs").iterdir())
    for f in runs_one:
        assert (tmp_path / "run-one" / "runs" / f).read_text() == (tmp_path / "run-two" / "runs" / f).read_text(), f


def test_more_processes_than_gpus_is_one_config_error(monkeypatch):
    """Two ranks on a one-GPU machine: rank 1 would get cuda:1; it stops with a line saying why."""
    import torch

    from rerankft.core import distributed
    from rerankft.core.errors import ConfigError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match=r"2 processes per machine but the machine has 1 GPU\(s\).*--num_processes 1"):
        distributed.device()
    with pytest.raises(ConfigError, match="1 GPU"):
        distributed.gather({"q1": 1.0})
