"""Other libraries' rerankers in the benchmark (api:, flashrank:, rerankers: entries), up to the network boundary."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rerankft.core.errors import ConfigError
from rerankft.scoring.library import parse_entry, preflight
from tests.test_cli import REPO


class StubRerankAPI(BaseHTTPRequestHandler):
    """A Cohere-style /v1/rerank on 127.0.0.1: scores = query words found in the document."""

    requests: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StubRerankAPI.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        words = set(body["query"].lower().split())
        scores = [len(words & set(d.lower().split())) + 1e-3 * i for i, d in enumerate(body["documents"])]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        out = {"results": [{"index": i, "relevance_score": scores[i]} for i in order]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_api():
    StubRerankAPI.requests = []
    server = HTTPServer(("127.0.0.1", 0), StubRerankAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/rerank"
    server.shutdown()


def run_eval(tmp_path, *overrides, env=None):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "eval.py"), "eval.first_stages=[bm25]", "rerank.top_k=10",
                           f"hydra.run.dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}", *overrides],
                          capture_output=True, text=True, cwd=REPO, timeout=300, env={**os.environ, **(env or {})})


def test_an_api_reranker_is_benchmarked_on_the_same_candidates_against_a_stub_server(stub_api, tmp_path):
    entry = f"api:cohere:rerank-v3.5@{stub_api}"
    r = run_eval(tmp_path, f'rerankers=["{entry}"]', "eval.latency_queries=3", env={"COHERE_API_KEY": "test-key"})
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    name = "bm25>>api:cohere:rerank-v3.5"
    assert name in metrics["systems"] and "bm25>>oracle" in metrics["systems"]
    assert any(c["system"] == name and c["baseline"] == "bm25" for c in metrics["comparisons"])  # same tests as ours
    assert metrics["cost"][name]["latency"]["queries"] == 3
    sent = StubRerankAPI.requests
    assert all(q["path"] == "/v1/rerank" and q["auth"] == "Bearer test-key" and q["model"] == "rerank-v3.5" for q in sent)
    # each test query's top 10 sent once: 55 in the pass, then the 3 timed ones alone, whose answers are used too
    assert len(sent) == 58 and all(1 <= len(q["documents"]) <= 10 for q in sent)
    assert sum(len(q["documents"]) for q in sent) == metrics["cost"][name]["pairs"]
    # the stub's word-overlap ranking really is what was evaluated: it differs from BM25's
    assert metrics["systems"][name]["nDCG@10"] != metrics["systems"]["bm25"]["nDCG@10"]


def test_a_missing_api_key_is_one_line_before_any_data_is_loaded(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COHERE_API_KEY"}
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "eval.py"), 'rerankers=["api:cohere:rerank-v3.5"]',
                        f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert r.returncode == 2 and "set COHERE_API_KEY" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "run" / "run_info.json").exists()


@pytest.mark.parametrize("entry,message", [
    ("api:cohere", "is malformed"),
    ("api:nosuchprovider:m", "api provider 'nosuchprovider' is unknown"),
    ("flashrank:ms-marco-MiniLM-L-12-v2", "pip install \"rerankers[flashrank]\""),
    ("rerankers:nosuchtype", "is malformed"),
])
def test_bad_library_entries_are_refused_before_anything_loads(entry, message, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flashrank" else real(name, *a))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        preflight(parse_entry(entry))


def test_entry_names_drop_the_endpoint():
    spec = parse_entry("api:Cohere:rerank-v3.5@http://127.0.0.1:9/v1/rerank")
    assert (spec.name, spec.where, spec.key_variable) == ("api:cohere:rerank-v3.5", "http://127.0.0.1:9/v1/rerank", "COHERE_API_KEY")
    assert parse_entry("api:mixedbread.ai:m").key_variable == "MIXEDBREAD_AI_API_KEY"
    assert parse_entry("rerankers:t5:unicamp-dl/InRanker-small").name == "rerankers:t5:unicamp-dl/InRanker-small"


def test_uncached_silences_a_library_rerankers_bars_and_restores_them():
    """The per-query latency pass calls rerank_run once per query: no bar for each."""
    from rerankft.scoring.library import LibraryReranker

    rr = object.__new__(LibraryReranker)  # the switch only; building needs the rerankers package
    rr.show_progress = None
    with rr.uncached() as same:
        assert same is rr and rr.show_progress is False
    assert rr.show_progress is None
