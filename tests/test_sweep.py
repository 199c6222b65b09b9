"""Sweep summaries: synthetic run dirs, the Hydra callback in a real (tiny) multirun, the Optuna config,
and (slow) a real 2x2 multirun of scripts/train.py on the demo data."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rerankft.core.errors import ConfigError
from rerankft.publish.sweep import summarize, write_summary

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def _make_run(sweep: Path, num: int, overrides: list[str], best_dev: float | None, test_ndcg: float = 0.5,
              train_seconds: float = 12.0) -> Path:
    run = sweep / str(num)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    (run / "config.yaml").write_text("dev:\n  metric: nDCG@10\n")
    if best_dev is not None:
        metrics = {
            "dataset": "demo", "split": "test", "top_k": 20,
            "systems": {"bm25": {"nDCG@10": 0.3, "R@100": 0.8},
                        "bm25>>base": {"nDCG@10": 0.35, "R@100": 0.8},
                        "bm25>>tuned": {"nDCG@10": test_ndcg, "R@100": 0.8},
                        "bm25>>oracle": {"nDCG@10": 1.0, "R@100": 0.8}},
            "dev": {"base_dev": 0.2, "best_dev": best_dev, "best_step": 4, "history": []},
        }
        (run / "metrics.json").write_text(json.dumps(metrics))
        # training records its wall-clock time next to the model
        (run / "train_done.json").write_text(json.dumps({"train": {"seconds": train_seconds, "global_step": 4}}))
    return run


@pytest.fixture
def sweep(tmp_path):
    s = tmp_path / "sweep"
    common = ["+experiment=demo_smoke"]
    # Run 1 has the best DEV metric; run 3 has the best TEST metric: selection must follow dev.
    _make_run(s, 0, ["loss=bce", "train.learning_rate=1e-5", *common], 0.40, test_ndcg=0.50)
    _make_run(s, 1, ["loss=bce", "train.learning_rate=3e-5", *common], 0.55, test_ndcg=0.45)
    _make_run(s, 2, ["loss=lambda", "train.learning_rate=1e-5", *common], None)  # crashed: no metrics.json
    _make_run(s, 3, ["loss=lambda", "train.learning_rate=3e-5", *common], 0.50, test_ndcg=0.70)
    return s


def test_best_run_is_chosen_by_dev_never_by_test(sweep):
    s = summarize(sweep)
    assert [r.name for r in s.rows] == ["0", "1", "2", "3"]
    assert s.best.name == "1" and s.best.dev == pytest.approx(0.55)
    assert [r.best for r in s.rows] == [False, True, False, False]
    assert s.rows[2].status == "incomplete" and s.rows[2].dev is None
    assert s.rows[3].test["bm25>>tuned"]["nDCG@10"] == pytest.approx(0.70)
    assert s.rows[0].train_seconds == pytest.approx(12.0)


def test_summary_files_have_one_row_per_run(sweep):
    s = write_summary(sweep)
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 4
    assert [r["best"] for r in rows] == ["", "yes", "", ""]
    # swept keys get their own columns; the shared override does not
    assert [r["loss"] for r in rows] == ["bce", "bce", "lambda", "lambda"]
    assert "experiment" not in rows[0]
    assert rows[1]["dev nDCG@10"] == "0.550000"
    assert rows[3]["test bm25>>tuned nDCG@10"] == "0.700000"
    assert rows[2]["status"] == "incomplete"
    assert "+experiment=demo_smoke" in rows[0]["overrides"]
    md = s.md_path.read_text()
    assert "Best run: `1`" in md
    assert f"python scripts/push.py run_dir={sweep / '1'}" in md
    best_line = next(line for line in md.splitlines() if line.startswith("| `1`"))
    assert "**best**" in best_line and "**0.5500**" in best_line
    assert "test bm25>>tuned nDCG@10" in md and "oracle" not in md
    assert "`+experiment=demo_smoke`" in md  # listed once as shared
    # written atomically: no temporary files left behind
    assert not [p for p in sweep.iterdir() if p.name.startswith(".summary")]


def test_eval_only_sweep_marks_no_best(tmp_path):
    s = tmp_path / "sweep"
    run = _make_run(s, 0, ["rerank.top_k=20"], 0.5)
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["dev"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    out = write_summary(s)
    assert out.best is None
    md = out.md_path.read_text()
    assert "no best run is marked" in md
    header = next(line for line in md.splitlines() if line.startswith("| run"))
    assert "dev nDCG@10" not in header and "best" not in header and "test bm25>>tuned nDCG@10" in header


def test_missing_or_empty_sweep_dir_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        summarize(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no run directories"):
        summarize(tmp_path / "empty")


def test_summarize_script(sweep):
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "summarize.py"), str(sweep)],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "Best run: `1`" in out.stdout
    assert (sweep / "summary.csv").is_file()


# A toy Hydra app that uses the project's hydra/default.yaml (so the registered callback) and
# writes a fake metrics.json: exercises the real multirun + callback path in a second.
TOY_APP = '''
import json, sys
from pathlib import Path
import hydra
from hydra.core.hydra_config import HydraConfig

@hydra.main(version_base="1.3", config_path="conf", config_name="toy")
def main(cfg):
    out = Path(HydraConfig.get().runtime.output_dir)
    dev = 1.0 - abs(cfg.train.learning_rate - 3e-5) * 1e4 + (0.01 if cfg.variant == "b" else 0.0)
    (out / "metrics.json").write_text(json.dumps({"systems": {"bm25>>tuned": {"nDCG@10": 0.5}},
                                                   "dev": {"best_dev": dev, "base_dev": 0.1}}))
    return dev

main()
'''


def test_multirun_writes_summary_through_the_callback(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "toy.yaml").write_text(
        "defaults:\n  - hydra: default\n  - _self_\ntask: toy\nvariant: a\ntrain:\n  learning_rate: 1e-5\n"
        f"hydra:\n  searchpath: [file://{CONFIGS}]\n")
    (tmp_path / "toy.py").write_text(TOY_APP)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "toy.py", "-m", "variant=a,b", "train.learning_rate=1e-5,3e-5"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    sweeps = list((tmp_path / "outputs" / "toy-sweep").iterdir())
    assert len(sweeps) == 1, "the sweep dir must resolve to the same folder for every job and the callback"
    s = summarize(sweeps[0])
    assert len(s.rows) == 4 and (sweeps[0] / "summary.md").is_file() and (sweeps[0] / "summary.csv").is_file()
    assert s.best.overrides == ["variant=b", "train.learning_rate=3e-05"]  # Hydra writes floats its own way


def test_optuna_search_config_composes():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hparams_search=optuna"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert sweeper.direction == "maximize"
    assert "train.learning_rate" in sweeper.params and "loss" in sweeper.params
    assert cfg.hydra.callbacks.sweep_summary._target_ == "rerankft.publish.sweep.SweepSummaryCallback"


def test_parallel_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hydra/launcher=parallel", "hydra.launcher.n_jobs=3"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert cfg.hydra.launcher.n_jobs == 3
    assert cfg.hydra.job.env_set.OMP_NUM_THREADS == "1"
    assert cfg.hydra.job.chdir is False  # the project's hydra settings still apply


def _train(args: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), "RERANKFT_CACHE": str(cwd / ".cache")}
    return subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=timeout)


TINY = ["experiment=demo_smoke", "train.max_steps=2", "train.max_length=64", "dev.top_k=5", "rerank.top_k=5",
        "eval.first_stages=[bm25]", "eval.bootstrap_samples=50", "retriever=bm25"]


@pytest.mark.slow
def test_two_by_two_multirun_on_demo(tmp_path):
    out = _train(["-m", "loss=bce,lambda", "train.learning_rate=1e-5,3e-5", *TINY], tmp_path, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "train-sweep").iterdir())
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [p.name for p in runs] == ["0", "1", "2", "3"]
    s = summarize(sweep)
    assert all(r.status == "ok" for r in s.rows)
    best_dev = max(json.loads((r / "metrics.json").read_text())["dev"]["best_dev"] for r in runs)
    assert s.best.dev == pytest.approx(best_dev)
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert len(rows) == 4
    assert float(next(r for r in rows if r["best"] == "yes")["dev nDCG@10"]) == pytest.approx(best_dev, abs=1e-6)


@pytest.mark.slow
def test_optuna_two_trials_on_demo(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    out = _train(["-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", *TINY], tmp_path, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "train-sweep").iterdir())
    result = OmegaConf.load(sweep / "optimization_results.yaml")
    s = summarize(sweep)
    assert len(s.rows) == 2 and all(r.status == "ok" for r in s.rows)
    assert result.best_value == pytest.approx(s.best.dev)
