"""Reliability: bad input fails early and clearly, interrupted runs lose nothing, same seed same result.

The bad-input table runs the real entry points (scripts/train.py, scripts/eval.py) as a user
would. Every case must stop before any model is loaded: exit code 2 (Hydra's own errors: 1),
a message naming the file:line or config key, no traceback, and a run directory that holds
nothing but Hydra's ``.hydra/`` folder and the script's log.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MISSING

REPO = Path(__file__).resolve().parents[1]


def run_script(script: str, *overrides: str, run_dir: Path, cache: Path, timeout: int = 300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(cache), "RERANKFT_DEBUG": "0"}
    return subprocess.run([sys.executable, str(REPO / "scripts" / script), *overrides, f"hydra.run.dir={run_dir}"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)


def packaged_bi_encoder() -> str:
    from rerankft.modeling.names import packaged_minilm_path

    return packaged_minilm_path()


# ----------------------------------------------------------------------------- the bad-input table
#
# Each row: id, script, how to build the input (a function of the beir_folder factory and tmp_path
# returning the overrides), the exit code, and the text the message must contain ({root}/{tmp} are
# filled in). One case per row.

GOOD_CORPUS = [
    '{"_id": "d1", "title": "Reset", "text": "Hold the reset button for ten seconds."}',
    '{"_id": "d2", "title": "Backup", "text": "Backups run nightly at 2 am."}',
    '{"_id": "d3", "title": "", "text": "Firmware updates install automatically."}',
]
GOOD_QUERIES = ['{"_id": "q1", "text": "how do I reset the device"}', '{"_id": "q2", "text": "when do backups run"}']
HEADER = "query-id\tcorpus-id\tscore"


def beir(make, **files):
    """A BEIR folder with one broken file; qrels go to qrels/all.tsv (train/test are carved from it)."""
    files.setdefault("qrels", [HEADER, "q1\td1\t2", "q2\td2\t1", "q2\td3\t0"])
    root = make(split="all", **files)
    return ["data=beir_local", f"data.path={root}"]


def pairs_file(tmp_path, lines):
    p = tmp_path / "pairs.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["data=pairs_jsonl", f"data.path={p}"]


def trec_run(tmp_path, lines):
    p = tmp_path / "first_stage.trec"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["retriever=trec_run", f"retriever.path={p}"]


CASES = [
    ("missing-corpus", "train.py", lambda mk, tmp: beir(mk, corpus=MISSING), 2,
     "error: corpus file not found: {root}/corpus.jsonl"),
    ("missing-queries", "train.py", lambda mk, tmp: beir(mk, queries=MISSING), 2,
     "error: queries file not found: {root}/queries.jsonl"),
    ("missing-qrels", "train.py", lambda mk, tmp: beir(mk, qrels=MISSING), 2,
     "error: no qrels found: expected {root}/qrels/<split>.tsv"),
    ("empty-corpus-file", "train.py", lambda mk, tmp: beir(mk, corpus=b""), 2,
     "error: corpus file is empty: {root}/corpus.jsonl"),
    ("malformed-json-line", "train.py", lambda mk, tmp: beir(mk, corpus=[GOOD_CORPUS[0], '{"_id": "d2", "text": "Backups', GOOD_CORPUS[2]]), 2,
     "error: {root}/corpus.jsonl:2: malformed JSON (Unterminated string starting at at column 23); each line must be one complete JSON object"),
    ("line-missing-_id", "train.py", lambda mk, tmp: beir(mk, corpus=[GOOD_CORPUS[0], '{"text": "no id here"}']), 2,
     "error: {root}/corpus.jsonl:2: missing '_id'; every line needs a non-empty '_id' (a string or integer)"),
    ("line-missing-text", "train.py", lambda mk, tmp: beir(mk, queries=[GOOD_QUERIES[0], '{"_id": "q2"}']), 2,
     "error: {root}/queries.jsonl:2: query 'q2' has no 'text' field; add \"text\": \"...\" to the line"),
    ("duplicate-doc-id", "train.py", lambda mk, tmp: beir(mk, corpus=GOOD_CORPUS + ['{"_id": "d1", "text": "again"}']), 2,
     "error: {root}/corpus.jsonl:4: duplicate document id 'd1'; ids must be unique: remove or rename one of the two"),
    ("duplicate-query-id", "train.py", lambda mk, tmp: beir(mk, queries=GOOD_QUERIES + ['{"_id": "q1", "text": "again"}']), 2,
     "error: {root}/queries.jsonl:3: duplicate query id 'q1'; ids must be unique"),
    ("qrels-unknown-query", "train.py", lambda mk, tmp: beir(mk, qrels=[HEADER, "q1\td1\t1", "q9\td2\t1"]), 2,
     "error: {root}/qrels/all.tsv:3: unknown query id 'q9' (not in queries.jsonl); add the query or remove this line"),
    ("qrels-unknown-doc", "train.py", lambda mk, tmp: beir(mk, qrels=[HEADER, "q1\td1\t1", "q2\td7\t1"]), 2,
     "error: {root}/qrels/all.tsv:3: unknown document id 'd7' (not in corpus.jsonl); add the document or remove this line"),
    ("qrels-score-not-int", "train.py", lambda mk, tmp: beir(mk, qrels=[HEADER, "q1\td1\thigh"]), 2,
     "error: {root}/qrels/all.tsv:2: relevance score 'high' is not an integer; use integer grades (0 = not relevant, 1 or more = relevant)"),
    ("query-positives-all-missing", "train.py", lambda mk, tmp: beir(mk, qrels=[HEADER, "q1\td1\t1", "q2\td8\t1", "q2\td9\t2", "q2\td3\t0"]), 2,
     "error: {root}/qrels/all.tsv:3: unknown document id 'd8' (not in corpus.jsonl); add the document or remove this line"),
    ("empty-query-text", "train.py", lambda mk, tmp: beir(mk, queries=[GOOD_QUERIES[0], '{"_id": "q2", "text": "  "}']), 2,
     "error: {root}/qrels/all.tsv:3: query 'q2' has an empty text (in queries.jsonl); give it a text or remove its judgements"),
    ("empty-passage-text", "train.py", lambda mk, tmp: pairs_file(tmp, ['{"query": "reset", "positive": ["Hold reset."]}', '{"query": "backup", "positive": [""]}']), 2,
     "error: {tmp}/pairs.jsonl:2: 'positive' contains an empty passage; remove it or give it a text"),
    ("non-utf8-bytes", "train.py", lambda mk, tmp: beir(mk, corpus=GOOD_CORPUS[0].encode() + b'\n{"_id": "d2", "text": "caf\xe9"}\n'), 2,
     "error: {root}/corpus.jsonl:2: not valid UTF-8 (invalid continuation byte at byte 26); re-encode the file as UTF-8"),
    ("pairs-empty-positive-list", "train.py", lambda mk, tmp: pairs_file(tmp, ['{"query": "reset", "positive": []}']), 2,
     "error: {tmp}/pairs.jsonl:1: 'positive' is an empty list; every query needs at least one positive passage"),
    ("trec-run-malformed-line", "train.py", lambda mk, tmp: trec_run(tmp, ["q1 Q0 d1 1 9.5 bm25", "q1 Q0 d2 2"]), 2,
     "error: {tmp}/first_stage.trec:2: expected 6 whitespace-separated fields (qid Q0 docid rank score tag), got 4"),
    ("rerank-top-k-zero", "eval.py", lambda mk, tmp: ["rerank.top_k=0"], 2,
     "error: rerank.top_k=0 is invalid: expected a positive integer"),
    ("train-model-path-missing", "train.py", lambda mk, tmp: [f"model.name={tmp}/no-such-model"], 2,
     "error: model.name: model path does not exist: {tmp}/no-such-model"),
    ("eval-reranker-path-missing", "eval.py", lambda mk, tmp: [f"rerankers=[{tmp}/no-such-reranker]"], 2,
     "error: rerankers: model path does not exist: {tmp}/no-such-reranker"),
    ("bi-encoder-as-reranker", "eval.py", lambda mk, tmp: [f"rerankers=[{packaged_bi_encoder()}]"], 2,
     "is a sentence-transformers bi-encoder (it has a Pooling module), not a cross-encoder. Give a fine-tuned reranker folder"),
    ("bi-encoder-as-tuned", "eval.py", lambda mk, tmp: ["rerankers=[tuned]", f"tuned={packaged_bi_encoder()}"], 2,
     "error: tuned={bi}: not a cross-encoder"),
    ("unknown-loss-group", "train.py", lambda mk, tmp: ["loss=foo"], 1,
     "Could not find 'loss/foo'"),
    ("unknown-loss-name", "train.py", lambda mk, tmp: ["loss.name=foo"], 2,
     "error: loss.name='foo' is not a known loss: choose one with loss=<name>"),
    ("hub-push-without-repo-id", "train.py", lambda mk, tmp: ["hub.push=true"], 2,
     "error: hub.push=true needs hub.repo_id=<user>/<model-name>"),
]


@pytest.mark.parametrize("case,script,build,code,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_early_with_a_clear_message(case, script, build, code, expected, beir_folder, tmp_path):
    overrides = build(beir_folder, tmp_path)
    run_dir = tmp_path / "run"
    r = run_script(script, *overrides, run_dir=run_dir, cache=tmp_path / "cache")
    shown = r.stderr + r.stdout
    assert r.returncode == code, shown[-3000:]
    assert expected.format(root=tmp_path / "beir", tmp=tmp_path, bi=packaged_bi_encoder()) in shown, shown[-3000:]
    assert "Traceback" not in shown
    # Nothing but Hydra's own files: no config.yaml/run_info.json, no caches, no results.
    written = {p.name for p in run_dir.iterdir()} if run_dir.exists() else set()
    assert written <= {".hydra", script.replace(".py", ".log")}, written
    assert not (tmp_path / "cache").exists()


# ----------------------------------------------------------------------------- config checks, in process


def compose(config: str, *overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return hydra_compose(config_name=config, overrides=list(overrides))


def test_every_shipped_loss_and_the_defaults_pass_validation():
    from rerankft.config import _known_losses, validate_config

    losses = _known_losses()
    assert {"bce", "mnrl", "lambda", "margin_mse"} <= set(losses)
    for name in losses:
        validate_config(compose("train", f"loss={name}"))
    validate_config(compose("eval"))
    for prior in ("dense", "bm25>>tuned", "hybrid>>tuned+fusion"):
        validate_config(compose("train", f"dev.prior='{prior}'", "dev.min_stability=1"))


@pytest.mark.parametrize("override,message", [
    ("loss.format=triplets", "loss.format='triplets' is unknown: use one of pairs, ntuples, lists, distill, teacher_lists"),
    ("rerank.backend=tensorrt", "rerank.backend='tensorrt' is unknown"),
    ("train.max_steps=0", "train.max_steps=0 is invalid: expected a positive integer (or -1 for no cap)"),
    ("eval.measures=[nDCG@ten]", "eval.measures: 'nDCG@ten' is not an ir_measures measure"),
    ("eval.first_stages=[splade]", "eval.first_stages contains unknown first stage 'splade'"),
    ("eval.first_stages=[run]", "eval.first_stages names 'run' but retriever is not trec_run"),
    ("dev.min_stability=1.5", "dev.min_stability=1.5 is invalid: expected a share between 0 and 1"),
    ("dev.pool=best", "dev.pool='best' is invalid: use one of all, fused"),
    ("dev.prior='splade>>tuned'", "dev.prior='splade>>tuned' is not a system name"),  # '>' needs quotes in Hydra
    ("dev.prior='dense>>student'", "dev.prior='dense>>student' is not a system name"),
    ("bi_encoder.max_steps=0", "bi_encoder.max_steps=0 is invalid: expected a positive integer"),
    ("bi_encoder.learning_rate=-1", "bi_encoder.learning_rate=-1 is invalid: expected a positive number"),
    ("bi_encoder.kind=colbert", "bi_encoder.kind='colbert' is unknown: use bi_encoder=mnrl or bi_encoder=none"),
])
def test_config_errors_name_the_key(override, message):
    from rerankft.config import validate_config
    from rerankft.core.errors import ConfigError

    group = ["bi_encoder=mnrl"] if override.startswith("bi_encoder.") else []  # off by default: its keys come with the group
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_config(compose("train", *group, override))


def test_own_loss_class_with_its_own_name_is_allowed():
    from rerankft.config import validate_config

    validate_config(compose("train", "loss.name=my_loss", "loss._target_=my_package.MyLoss"))


def test_model_names_checked_without_loading(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from rerankft.config import check_model_names
    from rerankft.core.errors import ModelError

    check_model_names(compose("train"))  # the packaged MiniLM resolves offline
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file, not a model folder"):
        check_model_names(compose("train", f"model.name={tmp_path / 'weights.bin'}"))
    with pytest.raises(ModelError, match="has no config.json"):
        check_model_names(compose("train", f"model.name={tmp_path}"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match=r"loss.teacher.name='cross-encoder/ms-marco-MiniLM-L-6-v2' is neither a local folder nor in the Hugging Face cache"):
        check_model_names(compose("train", "loss=margin_mse"))
    with pytest.raises(ModelError, match=r"retriever.name='nobody/no-such-bi-encoder'"):
        check_model_names(compose("train", "retriever.name=nobody/no-such-bi-encoder"))
    with pytest.raises(ModelError, match=r"rerankers entry='nobody/no-such-reranker' is neither a local folder"):
        check_model_names(compose("eval", "rerankers=[base,nobody/no-such-reranker]"))
    check_model_names(compose("eval", "model.name=nobody/unused", "rerankers=[tuned]", "eval.first_stages=[bm25]"))  # base not used


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_write_keeps_the_old_file_when_the_write_dies(tmp_path, monkeypatch):
    from rerankft.core import io

    target = tmp_path / "metrics.json"
    io.write_json(target, {"ndcg": 0.5})

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        io.write_json(target, {"ndcg": 0.9})
    assert json.loads(target.read_text()) == {"ndcg": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left behind


def test_atomic_dir_keeps_the_old_folder_when_the_save_dies(tmp_path):
    from rerankft.core.io import atomic_dir

    model = tmp_path / "model"
    with atomic_dir(model) as tmp:
        (tmp / "config.json").write_text("{}")
    with pytest.raises(RuntimeError):
        with atomic_dir(model) as tmp:
            (tmp / "config.json").write_text('{"half": ')
            raise RuntimeError("killed mid-save")
    assert (model / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_results_are_written_through_the_atomic_helpers():
    """No module writes a result file directly (open(..., 'w') / Path.write_text) outside rerankft/core/io.py,
    except into a temporary path that an atomic helper renames afterwards."""
    import re

    direct = re.compile(r"open\([^)]*[\"'][wa]b?[\"']|\.write_text\(|\.write_bytes\(")
    offenders = []
    for py in sorted((REPO / "rerankft").glob("*.py")):
        if py.name == "io.py":
            continue
        for n, line in enumerate(py.read_text().splitlines(), 1):
            if direct.search(line) and "tmp" not in line:
                offenders.append(f"{py.name}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ----------------------------------------------------------------------------- half-written caches


def test_half_written_embedding_cache_is_rebuilt(tmp_path):
    from rerankft.retrieval.base import retriever_config
    from rerankft.retrieval.factory import build_retriever

    r = build_retriever({**retriever_config("dense")}, tmp_path)  # nothing is loaded: only the cache files are used
    ids = ["d1", "d2", "d3"]
    emb = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    r._save_cache("fp", ids, emb)
    np.testing.assert_array_equal(r._load_cache("fp", ids), emb)
    npy, meta = r._cache_paths("fp")

    raw = npy.read_bytes()
    npy.write_bytes(raw[: len(raw) // 2])  # a crash half way through a copy / a full disk
    assert r._load_cache("fp", ids) is None and r.stats["cache_rebuilds"] == 1
    r._save_cache("fp", ids, emb)  # the rebuild replaces it
    np.testing.assert_array_equal(r._load_cache("fp", ids), emb)

    meta.unlink()  # killed between the array and its metadata: never trusted
    assert r._load_cache("fp", ids) is None
    meta.write_text('{"ids": ["d1", "d2", "d3"], "byt')  # garbled metadata
    assert r._load_cache("fp", ids) is None and r.stats["cache_rebuilds"] == 2


def test_truncated_score_cache_is_moved_aside_and_rebuilt(tmp_path):
    from rerankft.scoring.score_cache import ScoreCache

    path = tmp_path / "scores.sqlite"
    cache = ScoreCache(path)
    keys = ScoreCache.keys("model-a", [(f"query {i}", f"passage {i} " * 20) for i in range(400)])
    cache.put(keys, np.arange(400, dtype=np.float32)[:, None])
    cache.close()
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    raw = path.read_bytes()
    assert len(raw) > 8192
    path.write_bytes(raw[: len(raw) // 2])  # half a database file

    again = ScoreCache(path)
    assert again.get(keys) == {}  # detected (at open or first read): no garbage scores, every pair re-scored
    assert list(tmp_path.glob("scores.sqlite.corrupt-*"))  # the damaged file is kept aside for a post-mortem
    again.put(keys[:3], np.ones((3, 1), dtype=np.float32))
    assert len(again.get(keys[:3])) == 3
    again.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"


# ----------------------------------------------------------------------------- long inputs


def test_report_shows_truncated_count_and_share():
    from rerankft.evaluation.report import cost_lines

    metrics = {"cost": {"bm25>>base": {"wall_s": 1.0, "ms_per_query": 10.0, "pairs": 200, "pairs_per_s": 200.0,
                                         "scored_pairs": 160, "cache_hits": 40, "truncated_pairs": 8, "max_length": 128,
                                         "backend": "torch", "device": "cpu"},
                        "bm25>>tuned": {"wall_s": 1.0, "ms_per_query": 10.0, "pairs": 200, "pairs_per_s": 200.0,
                                        "scored_pairs": 200, "cache_hits": 0, "truncated_pairs": 0, "max_length": 128,
                                        "backend": "torch", "device": "cpu"}}}
    base, tuned = cost_lines(metrics)
    assert "8 of 160 scored pairs (5.0%) were longer than max_length (128 tokens) and truncated" in base
    assert "0 of 200 scored pairs (0.0%) were longer than max_length" in tuned


@pytest.mark.slow
def test_truncation_is_longest_first_and_counted_by_the_reranker():
    """Reranker.stats counts every scored pair whose [CLS] q [SEP] p [SEP] exceeds max_length; the
    passage (the longer text) is what gets cut, so a long passage scores as its first tokens."""
    from rerankft.scoring.reranker import Reranker

    rr = Reranker("packaged-minilm", max_length=32)
    head = "reset the router by holding the button"
    pairs = [("reset router", head), ("reset router", head + " for ten seconds" + " and then wait" * 40),
             ("reset router", "short")]
    scores = rr.score(pairs)
    assert rr.stats["truncated_pairs"] == 1
    cut = rr.tokenizer("reset router", pairs[1][1], truncation="longest_first", max_length=32)["input_ids"]
    assert len(cut) == 32 and rr.tokenizer.decode(cut).count("reset router") == 1  # the query survives whole
    assert np.isfinite(scores).all()


# ----------------------------------------------------------------------------- kill -9 through the script, then resume

SMOKE = ["experiment=demo_smoke", "retriever=bm25", "eval.first_stages=[bm25]", "loss=bce", "train.max_steps=4", "dev.top_k=3",
         "train.eval_steps=2", "train.batch_size=2", "train.max_length=48", "rerank.top_k=5", "eval.bootstrap_samples=50",
         "rerank.cache=false"]


@pytest.mark.slow
def test_killed_train_script_claims_nothing_and_resumes(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RERANKFT_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), *SMOKE]
    proc = subprocess.Popen([*cmd, f"hydra.run.dir={run}"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 900
        while not (run / "checkpoints" / "checkpoint-2" / "trainer_state.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.time() < deadline, "no checkpoint within 15 minutes"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9 of the whole job, mid-training
        proc.wait()
    # Nothing in the run directory may claim a finished result.
    for claim in ("metrics.json", "report.md", "train_done.json", "model", "per_query.tsv", "hub_upload"):
        assert not (run / claim).exists(), claim
    assert (run / "config.yaml").is_file() and (run / "train_log.jsonl").is_file()  # what it did so far is kept

    res = subprocess.run([*cmd, f"train.resume={run}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line.strip()]
    assert [r["event"] for r in log].count("resume") == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"bm25", "bm25>>base", "bm25>>tuned"} <= set(metrics["systems"]) and metrics["dev"]["best_dev"] is not None
    assert (run / "report.md").is_file() and (run / "model" / "config.json").is_file()
    assert not list(run.glob(".*.tmp")) and not list(run.glob(".model.*"))


# ----------------------------------------------------------------------------- determinism


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_dev_metrics(tmp_path):
    """Two tiny CPU trainings with one seed: identical dev nDCG@10 history and identical model scores."""
    from sentence_transformers import CrossEncoder

    from rerankft.data.dataset import RetrievalDataset
    from rerankft.mining.rows import MinedRow, MiningResult
    from rerankft.training.trainer import fit_cross_encoder

    topics = ["router", "printer", "battery", "password", "backup", "invoice", "refund", "shipping"]
    n = len(topics)
    ds = RetrievalDataset(
        name="tiny",
        corpus={f"d{i}": {"title": t.title(), "text": f"How to fix a {t} problem: the {t} guide."} for i, t in enumerate(topics)},
        queries={f"q{i}": f"my {t} does not work" for i, t in enumerate(topics)},
        qrels={"train": {f"q{i}": {f"d{i}": 1} for i in range(n)}},
    )
    train_q, dev_q = [f"q{i}" for i in range(6)], ["q6", "q7"]
    mined = MiningResult(dataset=ds, rows=[
        MinedRow(qid=q, positive=f"d{int(q[1:])}", grade=1, positive_score=0.9,
                 negatives=[f"d{(int(q[1:]) + k) % n}" for k in (1, 2)], negative_scores=[0.5, 0.4], n_hard=2)
        for q in train_q], negatives_per_row=2)
    dev_qrels = {q: ds.qrels["train"][q] for q in dev_q}
    dev_run = {q: {f"d{(int(q[1:]) + k) % n}": 1.0 - 0.1 * k for k in (1, 2, 0, 3)} for q in dev_q}
    cfg = compose("train", "loss=bce", "train.max_steps=4", "train.eval_steps=2", "train.batch_size=4", "train.max_length=32",
                  "train.precision=fp32", "train.warmup_ratio=0.0", "train.learning_rate=1e-4", "dev.top_k=4", "train.seed=7")

    results = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()  # the run directory Hydra makes
        results.append(fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path / name))
    a, b = (r.dev_summary for r in results)
    assert a["history"] == b["history"] and a["best_dev"] == b["best_dev"] and a["best_step"] == b["best_step"]
    pairs = [(ds.queries[q], ds.doc_text(d)) for q in dev_q for d in dev_run[q]]
    sa, sb = (CrossEncoder(str(r.model_dir), trust_remote_code=True).predict(pairs) for r in results)
    np.testing.assert_array_equal(sa, sb)


# ----------------------------------------------------------------------------- the README's pairs example, as written


@pytest.mark.slow
def test_readme_pairs_example_trains_and_benchmarks_on_a_10_query_file(tmp_path):
    """`python scripts/train.py data=pairs_jsonl data.path=pairs.jsonl data.extra_corpus=unlabeled.jsonl`
    on 10 queries and 55 unlabeled passages: a corpus too small for random negatives beyond rank 100."""
    import json

    from tests.rerank_fixtures import TOPICS

    topics = TOPICS[:10]
    assert len(topics) == 10
    with open(tmp_path / "pairs.jsonl", "w", encoding="utf-8") as f:
        for i, (q, pos) in enumerate(topics):
            f.write(json.dumps({"query": q, "positive": pos, "negative": [topics[(i + 1) % 10][1]]}) + "\n")
    with open(tmp_path / "unlabeled.jsonl", "w", encoding="utf-8") as f:
        for i in range(55):
            q, pos = topics[i % 10]
            f.write(json.dumps({"text": f"Note {i}: {' '.join(pos.split()[i % 5:])} (filed under {q.split()[-1]})"}) + "\n")
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), "data=pairs_jsonl", f"data.path={tmp_path / 'pairs.jsonl'}",
                        f"data.extra_corpus={tmp_path / 'unlabeled.jsonl'}", f"hydra.run.dir={run}", f"cache_dir={tmp_path / 'cache'}"],
                       cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert any(s.endswith(">>tuned") for s in metrics["systems"]) and metrics.get("final")
    mining = json.loads((run / "mining.json").read_text())
    assert mining["positives"] > 0
