"""Hub publishing: model card, dry-run folder, push (to the HTTP boundary), failures and fail-fast checks.

Nothing here reaches the real Hub: uploads go either to replaced HfApi methods or to a stub
HTTP server on 127.0.0.1 that the hub client is pointed at (HF_ENDPOINT, in a subprocess,
because huggingface_hub reads it at import time).
"""

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from rerankft.core.errors import ConfigError
from rerankft.publish.hub import (
    PushError,
    metric_type,
    model_card,
    preflight,
    publish,
    read_run,
)

REPO = Path(__file__).resolve().parents[1]
PAIRS = [("how do I reset the device", "Hold the reset button for ten seconds."),
         ("when do backups run", "Backups run nightly at 2 am.")]
METRICS = {
    "dataset": "demo", "split": "test", "top_k": 20, "queries": 38, "measures": ["nDCG@10", "RR@10", "R@100"],
    "systems": {
        "bm25": {"nDCG@10": 0.4012, "RR@10": 0.45, "R@100": 0.91},
        "bm25>>base": {"nDCG@10": 0.3555, "RR@10": 0.40, "R@100": 0.91},
        "bm25>>tuned": {"nDCG@10": 0.6123, "RR@10": 0.66, "R@100": 0.91},
        "bm25>>oracle": {"nDCG@10": 0.9, "RR@10": 0.95, "R@100": 0.91},
    },
    "dev": {"metric": "nDCG@10", "queries": 30, "base_dev": 0.31, "best_dev": 0.5876, "best_step": 8, "history": []},
}
RUN_INFO = {"command": "/home/me/rerankft/scripts/train.py loss=lambda hub.token=hf_secret", "seed": 42, "versions": {"rerankft": "0.1.0"},
            "data": {"name": "demo", "source": "/home/me/rerankft/demo_data", "docs": 245, "queries": 192,
                     "splits": {"train": {"queries": 154, "judgements": 400}, "test": {"queries": 38, "judgements": 99}},
                     "fingerprint": "abc123", "warnings": {}}}
CONFIG = {
    "model": {"name": "sentence-transformers/all-MiniLM-L6-v2"},
    "data": {"kind": "demo", "name": "demo", "dev_fraction": 0.2},
    "retriever": {"kind": "bm25"},
    "loss": {"name": "lambda", "format": "lists", "_target_": "sentence_transformers.cross_encoder.losses.LambdaLoss"},
    "miner": {"range_min": 10, "range_max": 100, "num_negatives": 4, "sampling_strategy": "random",
              "relative_margin": 0.05, "absolute_margin": None, "num_random_negatives": 1},
    "train": {"epochs": 2, "schedule_epochs": 3, "max_steps": -1, "learning_rate": 3e-5, "warmup_ratio": 0.1, "weight_decay": 0.01,
              "batch_size": 8, "gradient_accumulation_steps": 1, "max_length": 128, "precision": "fp32", "seed": 42},
    "dev": {"metric": "nDCG@10"},
}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A 'tuned model': MiniLM with a random one-logit head, saved as a CrossEncoder folder."""
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.names import resolve_model_name

    path = tmp_path_factory.mktemp("model") / "model"
    model = CrossEncoder(resolve_model_name("sentence-transformers/all-MiniLM-L6-v2"), num_labels=1, max_length=64)
    model.save(str(path))
    return path, model.predict(PAIRS)


@pytest.fixture
def run(tmp_path, saved_model):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(saved_model[0], run / "model")
    (run / "metrics.json").write_text(json.dumps(METRICS))
    (run / "run_info.json").write_text(json.dumps(RUN_INFO))
    (run / "config.yaml").write_text(OmegaConf.to_yaml(CONFIG))
    (run / "train_done.json").write_text(json.dumps({"train": {"global_step": 8, "seconds": 42.0}}))
    return run


@pytest.fixture
def no_network(monkeypatch):
    from huggingface_hub import HfApi

    def refuse(*a, **k):
        raise AssertionError("a dry run must not talk to the Hub")

    monkeypatch.setattr(HfApi, "create_repo", refuse)
    monkeypatch.setattr(HfApi, "upload_folder", refuse)


def test_metric_type_uses_hub_ids():
    assert metric_type("nDCG@10") == "ndcg_at_10"
    assert metric_type("RR@10") == "mrr_at_10"
    assert metric_type("R@100") == "recall_at_100"
    assert metric_type("AP") == "map"


def test_model_card_has_base_model_recipe_data_and_model_index(run):
    card = model_card(read_run(run), "me/demo-reranker")
    data = card.data
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert data.pipeline_tag == "text-ranking" and data.library_name == "sentence-transformers"
    # model-index: this model's (tuned) test metrics only, with Hub metric ids
    by_type = {r.metric_type: r for r in data.eval_results}
    assert set(by_type) == {"ndcg_at_10", "mrr_at_10", "recall_at_100"}
    assert by_type["ndcg_at_10"].metric_value == pytest.approx(0.6123)
    assert by_type["ndcg_at_10"].dataset_split == "test" and by_type["ndcg_at_10"].task_type == "text-ranking"
    text = card.text
    for needle in ("lambda", "LambdaLoss", "ranks [10, 100)", "4 per positive", "epochs: 2 of a 3-epoch learning-rate schedule", "learning rate: 3e-05",
                   "245 documents", "154 queries", "0.5876", "| **bm25>>tuned** | 0.6123", "| bm25>>base | 0.3555",
                   'CrossEncoder("me/demo-reranker")', "in 42 s", "python scripts/train.py loss=lambda hub.token=<redacted>",
                   "(source: `demo_data`)"):
        assert needle in text, needle
    assert "hf_secret" not in str(card) and "/home/me" not in str(card)  # no secrets or local paths on the Hub


def test_model_card_says_when_the_labelled_queries_were_capped(run):
    assert "capped at" not in model_card(read_run(run), "me/x").text  # null: every training query, nothing to say
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.data.train_queries = 27
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    assert "labelled training queries capped at 27" in model_card(read_run(run), "me/x").text


def test_local_base_model_is_not_claimed_as_hub_base(run, tmp_path):
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.model.name = str(tmp_path)  # a local folder is not a Hub id: the Hub would reject it in metadata
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    assert model_card(read_run(run), "me/x").data.base_model is None


def test_dry_run_writes_a_loadable_folder_with_the_metrics(run, saved_model, no_network):
    from huggingface_hub import ModelCard
    from sentence_transformers import CrossEncoder

    info = publish({"push": True, "dry_run": True, "repo_id": "me/demo-reranker"}, run)
    folder = run / "hub_upload"
    assert info["dry_run"] and Path(info["folder"]) == folder
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    loaded = CrossEncoder(str(folder))
    np.testing.assert_allclose(loaded.predict(PAIRS), saved_model[1], rtol=1e-5, atol=1e-6)
    card = ModelCard.load(folder / "README.md")
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["ndcg_at_10"] == pytest.approx(0.6123)
    assert "model-index" in (folder / "README.md").read_text()
    assert json.loads((run / "hub.json").read_text())["dry_run"] is True


def test_dry_run_needs_no_token_or_repo_id(run, no_network, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    publish({"dry_run": True}, run)
    assert "<user>/<model-name>" in (run / "hub_upload" / "README.md").read_text()


@pytest.fixture
def online(monkeypatch):
    """The suite runs with HF_HUB_OFFLINE=1; tests whose HTTP calls are replaced pretend to be online."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def recorded_push(monkeypatch, online):
    """Replace the two HTTP calls of push_to_hub and record what they would send."""
    from huggingface_hub import CommitInfo, HfApi, RepoUrl

    calls = []

    def create_repo(self, repo_id, **kw):
        calls.append({"call": "create_repo", "repo_id": repo_id, "token": self.token, **kw})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kw):
        folder = Path(folder_path)
        calls.append({"call": "upload_folder", "repo_id": repo_id, "token": self.token,
                      "files": sorted(p.name for p in folder.iterdir()),
                      "readme": (folder / "README.md").read_text(), **kw})
        return CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/{'a' * 40}", commit_message="m",
                          commit_description="", oid="a" * 40)

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_push_sends_the_dry_run_folder_and_tolerates_an_existing_repo(run, recorded_push):
    hub = {"push": True, "repo_id": "me/demo-reranker", "token": "hf_test", "private": True}
    publish(hub, run)
    publish(hub, run)  # pushing again to the (now existing) repository must work
    creates = [c for c in recorded_push if c["call"] == "create_repo"]
    uploads = [c for c in recorded_push if c["call"] == "upload_folder"]
    assert len(creates) == 2 and len(uploads) == 2
    assert all(c["exist_ok"] is True and c["repo_id"] == "me/demo-reranker" and c["private"] is True for c in creates)
    assert all(c["token"] == "hf_test" for c in recorded_push)
    up = uploads[0]
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= set(up["files"])
    assert "ndcg_at_10" in up["readme"] and "0.6123" in up["readme"]
    assert up["create_pr"] is False
    # the pushed folder is the dry-run folder, file for file
    publish({"dry_run": True, "repo_id": "me/demo-reranker"}, run)
    assert sorted(p.name for p in (run / "hub_upload").iterdir()) == up["files"]
    assert (run / "hub_upload" / "README.md").read_text() == up["readme"]
    info = json.loads((run / "hub.json").read_text())
    assert info["dry_run"] is True  # the last call was the dry run
    assert "hf_test" not in (run / "hub.json").read_text()


def test_upload_failure_keeps_the_model_and_says_how_to_retry(run, monkeypatch, online):
    from huggingface_hub import HfApi, RepoUrl

    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: RepoUrl(f"https://huggingface.co/{repo_id}"))

    def fail(self, **kw):
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(HfApi, "upload_folder", fail)
    with pytest.raises(PushError) as e:
        publish({"push": True, "repo_id": "me/demo-reranker", "token": "hf_test"}, run)
    msg = str(e.value)
    assert "connection reset by peer" in msg
    assert f"python scripts/push.py run_dir={run} hub.repo_id=me/demo-reranker" in msg
    assert (run / "model" / "model.safetensors").is_file()
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("rerankft-hub-*/hub_upload/README.md"))


def _hub_cfg(**hub):
    return OmegaConf.create({"hub": {"push": True, "repo_id": "me/x", "dry_run": False, "token": None, **hub}})


def test_preflight_needs_a_token(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(ConfigError, match="no Hugging Face token.*HF_TOKEN"):
        preflight(_hub_cfg())
    preflight(_hub_cfg(dry_run=True))  # a dry run needs none
    preflight(_hub_cfg(push=False))


def test_preflight_checks_repo_id_and_offline_mode(monkeypatch):
    from huggingface_hub import constants

    with pytest.raises(ConfigError, match="hub.repo_id='not a repo'"):
        preflight(_hub_cfg(repo_id="not a repo", token="hf_x"))
    with pytest.raises(ConfigError, match="needs a namespace"):
        preflight(_hub_cfg(repo_id="justname", token="hf_x"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE"):
        preflight(_hub_cfg(token="hf_x"))


def test_push_from_a_sweep_is_refused(monkeypatch):
    import rerankft.publish.hub as hub

    monkeypatch.setattr(hub, "_in_multirun", lambda: True)
    with pytest.raises(ConfigError, match="sweep.*scripts/push.py run_dir="):
        preflight(_hub_cfg(token="hf_x"))
    preflight(_hub_cfg(dry_run=True))


def test_missing_token_stops_train_before_any_training_step(tmp_path, monkeypatch):
    """pipeline.train with hub.push=true and no token: ConfigError before data loading, mining or training."""
    import huggingface_hub
    from hydra import compose, initialize_config_dir

    import rerankft.pipeline as pipeline
    import rerankft.training.trainer as training

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hub.push=true", "hub.repo_id=me/x"])
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    monkeypatch.setattr(pipeline, "run_dir", lambda: tmp_path)

    def must_not_run(*a, **k):
        raise AssertionError("reached an expensive step before the token check")

    monkeypatch.setattr(pipeline, "load_from_config", must_not_run)
    monkeypatch.setattr(training, "fit_cross_encoder", must_not_run)
    with pytest.raises(ConfigError, match="no Hugging Face token"):
        pipeline.train(cfg)
    assert list(tmp_path.iterdir()) == []


def test_train_script_without_token_exits_2_before_training(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_TOKEN_PATH=str(tmp_path / "hf" / "no-token"), HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), "hub.push=true", "hub.repo_id=me/x",
                          f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "no Hugging Face token" in out.stderr
    assert not (tmp_path / "run" / "run_info.json").exists() and not (tmp_path / "run" / "model").exists()


# ----------------------------------------------------------------------------- a stub Hub on 127.0.0.1


class StubHub(BaseHTTPRequestHandler):
    """The four endpoints upload_folder + create_repo use. Every file is answered 'regular' at preupload,
    so file contents arrive base64-encoded inside the commit request and can be checked here."""

    existing = {"me/demo-reranker"}   # the repository already exists: create_repo answers 409
    requests: list = []
    commits: list = []
    MAX_REQUESTS = 40                 # a client stuck in a retry loop gets 500s and the test fails, not hangs

    def log_message(self, *a):
        pass

    def _reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        StubHub.requests.append((self.path, self.headers.get("Authorization")))
        if len(StubHub.requests) > self.MAX_REQUESTS:
            return self._reply(500, {"error": "too many requests"})
        path = self.path.split("?")[0]
        base = f"http://{self.headers['Host']}"
        if path == "/api/repos/create":
            p = json.loads(body)
            repo = f"{p['organization']}/{p['name']}"
            if repo in StubHub.existing:
                return self._reply(409, {"error": "You already created this model repo", "url": f"{base}/{repo}"})
            StubHub.existing.add(repo)
            return self._reply(200, {"url": f"{base}/{repo}"})
        if path == "/api/validate-yaml":
            return self._reply(200, {})
        if path.startswith("/api/models/") and "/preupload/" in path:
            files = json.loads(body)["files"]
            return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                               for f in files]})
        if path.startswith("/api/models/") and "/commit/" in path:
            lines = [json.loads(x) for x in body.splitlines() if x.strip()]
            files = {x["value"]["path"]: base64.b64decode(x["value"]["content"]) for x in lines if x["key"] == "file"}
            repo = path[len("/api/models/"):].split("/commit/")[0]
            StubHub.commits.append({"repo": repo, "header": lines[0], "files": files})
            return self._reply(200, {"commitUrl": f"{base}/{repo}/commit/{'b' * 40}", "commitOid": "b" * 40})
        return self._reply(404, {"error": f"stub has no {path}"})

    def do_GET(self):
        StubHub.requests.append((self.path, self.headers.get("Authorization")))
        return self._reply(404, {"error": "not in the stub"})


@pytest.fixture
def stub_hub():
    StubHub.requests, StubHub.commits = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow  # ~30 s: a subprocess loads the model and sends it base64-encoded; test_push_sends_... is the fast check
def test_push_script_over_http_to_an_existing_repo(run, stub_hub, tmp_path):
    env = {**os.environ, "HF_ENDPOINT": stub_hub, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_stub_token",
           "HF_HOME": str(tmp_path / "hf"), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "push.py"), f"run_dir={run}",
                          "hub.repo_id=me/demo-reranker", f"hydra.run.dir={tmp_path / 'push'}"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(StubHub.commits) == 1, StubHub.requests
    commit = StubHub.commits[0]
    assert commit["repo"] == "me/demo-reranker"
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= set(commit["files"])
    readme = commit["files"]["README.md"].decode()
    assert "ndcg_at_10" in readme and "0.6123" in readme and "base_model: sentence-transformers/all-MiniLM-L6-v2" in readme
    # the uploaded weights are the tuned model's weights
    from safetensors.torch import load, load_file

    sent, local = load(commit["files"]["model.safetensors"]), load_file(run / "model" / "model.safetensors")
    assert sent.keys() == local.keys() and all(bool((sent[k] == local[k]).all()) for k in local)
    # what was sent, in order (the client may also make unrelated unauthenticated GETs, e.g. metadata lookups)
    upload = [(p.split("?")[0], auth) for p, auth in StubHub.requests if p.startswith(("/api/repos", "/api/models", "/api/validate"))]
    assert [p for p, _ in upload] == ["/api/repos/create", "/api/validate-yaml", "/api/models/me/demo-reranker/preupload/main",
                                      "/api/models/me/demo-reranker/commit/main"]
    assert all(auth == "Bearer hf_stub_token" for _, auth in upload)
    info = json.loads((run / "hub.json").read_text())
    assert info["dry_run"] is False and info["commit_url"].endswith("b" * 40)


def test_push_script_checks_the_run_dir_first(tmp_path):
    from rerankft.core.errors import ModelError
    from rerankft.publish.hub import push_run

    cfg = lambda run_dir: OmegaConf.create({"run_dir": run_dir, "hub": {"push": True, "repo_id": "me/x", "dry_run": False}})  # noqa: E731
    with pytest.raises(ConfigError, match="run_dir is required"):
        push_run(cfg(None))
    with pytest.raises(ConfigError, match="no such directory"):
        push_run(cfg(str(tmp_path / "nope")))
    with pytest.raises(ModelError, match="no tuned model"):
        push_run(cfg(str(tmp_path)))
