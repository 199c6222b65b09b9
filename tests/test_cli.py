"""The scripts as a user runs them: user errors give one clear line, exit code 2, no results."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_script(script, *overrides, cwd=REPO):
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *overrides],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cfg_job_prints_resolved_config():
    r = run_script("train.py", "--cfg", "job")
    assert r.returncode == 0, r.stderr
    assert "model:" in r.stdout and "all-MiniLM-L6-v2" in r.stdout and "loss:" in r.stdout


def test_missing_data_folder_is_one_line_and_writes_no_results(tmp_path):
    out = tmp_path / "run"
    r = run_script("train.py", "data=beir_local", f"data.path={tmp_path / 'nope'}", f"hydra.run.dir={out}")
    assert r.returncode == 2
    assert "error: data folder not found" in r.stderr
    assert "Traceback" not in r.stderr
    written = {p.name for p in out.iterdir()} - {".hydra"}
    assert written <= {"train.log"}, written


def test_bad_config_value_names_the_key(tmp_path):
    r = run_script("eval.py", "rerank.top_k=0", f"hydra.run.dir={tmp_path / 'run'}")
    assert r.returncode == 2
    assert "rerank.top_k=0 is invalid" in r.stderr


def test_debug_flag_shows_traceback(tmp_path):
    r = run_script("eval.py", "rerank.top_k=0", "debug=true", f"hydra.run.dir={tmp_path / 'run'}")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_user_error_is_in_the_log_file_too(tmp_path):
    out = tmp_path / "run"
    r = run_script("eval.py", "rerank.top_k=-3", f"hydra.run.dir={out}")
    assert r.returncode == 2 and r.stderr.count("\n") <= 3, r.stderr  # one error line plus the debug hint
    assert "rerank.top_k=-3 is invalid" in (out / "eval.log").read_text()


def test_debug_env_var_shows_traceback(tmp_path):
    import os

    env = {**os.environ, "RERANKFT_DEBUG": "1"}
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "eval.py"), "rerank.top_k=0", f"hydra.run.dir={tmp_path / 'run'}"],
                       capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert r.returncode != 0 and "Traceback" in r.stderr and "ConfigError" in r.stderr
