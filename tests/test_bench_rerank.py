"""benchmarks/bench_rerank.py: the dev queries it chooses settings on are the run's own dev carve."""

import importlib.util
import types

import pytest

from rerankft.data.dataset import carve_dev
from tests.test_training import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("bench_rerank", REPO / "benchmarks" / "bench_rerank.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_dev_is_the_runs_own_dev_carve_and_needs_a_run(tmp_path):
    bench = _bench()
    train = {f"q{i}": {f"d{i}": 1} for i in range(40)}
    dataset = types.SimpleNamespace(split=lambda name: train)
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("data:\n  splits: {train: train}\n  dev_fraction: 0.25\ntrain:\n  seed: 7\n")
    dev = bench.dev_queries(dataset, types.SimpleNamespace(model=str(run / "model")))
    assert dev == carve_dev(train, 0.25, 7)[1] and len(dev) == 10
    assert dev != carve_dev(train, 0.25, 8)[1]  # the run's seed, not any seed
    with pytest.raises(SystemExit, match="--split dev needs --model"):
        bench.dev_queries(dataset, types.SimpleNamespace(model=str(tmp_path / "elsewhere" / "model")))
