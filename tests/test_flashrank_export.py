"""scripts/export.py format=flashrank: a folder FlashRank loads offline and that ranks like rerankft.Reranker.

The model is the offline default's untrained start (gated segment_cosine body on the packaged MiniLM):
its scores span about +-20 with no activation, the case FlashRank's sigmoid would flatten into ties.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import REPO

pytest.importorskip("flashrank")
pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.shared_data

MAX_LENGTH = 128  # the saved model's window: the export's default, and Reranker's
TOP_K = 20
N_QUERIES = 20


@pytest.fixture(scope="module")
def gated_model_dir(tmp_path_factory) -> str:
    from rerankft.modeling.heads import (
        build_segment_cosine_cross_encoder,
        make_portable,
    )
    from rerankft.modeling.names import resolve_model_name

    model = build_segment_cosine_cross_encoder(resolve_model_name("all-MiniLM-L6-v2"), MAX_LENGTH, segment_gate=-4.0)
    path = tmp_path_factory.mktemp("models") / "gated-start"
    model.save_pretrained(str(path))
    assert make_portable(path, model)
    return str(path)


@pytest.fixture(scope="module")
def cranfield(shared_data):
    from rerankft.data.loading import load_beir_folder

    return load_beir_folder(shared_data / "cranfield", splits=["test"])


@pytest.fixture(scope="module")
def candidates(cranfield):
    """BM25's top TOP_K for the first N_QUERIES Cranfield test queries (by id)."""
    from rerankft.retrieval.base import retriever_config
    from rerankft.retrieval.bm25 import BM25Retriever

    qids = sorted(cranfield.split("test"))[:N_QUERIES]
    return BM25Retriever(retriever_config("bm25"), None).retrieve(cranfield, qids, k=TOP_K)


@pytest.fixture
def offline(monkeypatch):
    """FlashRank downloads a model folder it does not find; here that fails the test."""
    from flashrank import Ranker

    def no_download(self, model_name):
        raise AssertionError(f"FlashRank tried to download {model_name}")

    monkeypatch.setattr(Ranker, "_download_model_files", no_download)


@pytest.fixture(scope="module")
def exported(gated_model_dir, tmp_path_factory) -> dict:
    from rerankft.publish.flashrank import export_flashrank

    return export_flashrank(gated_model_dir, tmp_path_factory.mktemp("flashrank"), quantize="fp32")


def test_the_folder_is_in_flashranks_layout_and_says_what_it_holds(exported):
    from flashrank.Config import model_file_map

    folder = Path(exported["cache_dir"]) / exported["model_name"]
    assert (folder / model_file_map[exported["model_name"]]).is_file()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json", "export.json"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == MAX_LENGTH
    info = json.loads((folder / "export.json").read_text())
    assert info == json.loads(json.dumps(exported))
    assert info["precision"] == "fp32" and info["max_length"] == MAX_LENGTH
    assert info["score_divisor"] == pytest.approx(20.0)  # the head's scale: sigmoid(score / 20) keeps the order
    assert info["max_abs_diff_fp32_vs_torch"] < 1e-4


def test_flashrank_ranks_cranfield_candidates_like_reranker(exported, gated_model_dir, cranfield, candidates, offline):
    from flashrank import Ranker, RerankRequest

    from rerankft import Reranker
    from rerankft.core.runs import ranked_ids

    ranker = Ranker(model_name=exported["model_name"], cache_dir=exported["cache_dir"])  # its default max_length
    reranker = Reranker(gated_model_dir)
    ours = reranker.rerank_run(cranfield, candidates, top_k=TOP_K)  # how the benchmark ranks a tuned model
    same, tied = 0, 0
    for qid, scored in candidates.items():
        passages = [{"id": d, "text": cranfield.doc_text(d)} for d in ranked_ids(scored)]
        theirs = ranker.rerank(RerankRequest(query=cranfield.queries[qid], passages=passages))
        same += [p["id"] for p in theirs[:10]] == ranked_ids(ours[qid])[:10]
        tied += len({float(p["score"]) for p in theirs[:10]}) < 10
    print(f"same top-10 as Reranker: {same} of {N_QUERIES} queries")
    assert len(candidates) == N_QUERIES and reranker.max_length == MAX_LENGTH
    assert same >= 19, f"same top-10 (in order) for only {same} of {N_QUERIES} queries"
    assert tied == 0  # the rescaled scores do not saturate FlashRank's sigmoid


def test_the_benchmark_scores_the_export_as_a_flashrank_entry(exported, cranfield, candidates, offline):
    pytest.importorskip("rerankers")
    from flashrank import Ranker

    from rerankft.core.runs import ranked_ids
    from rerankft.publish.flashrank import flashrank_run
    from rerankft.scoring.library import LibraryReranker, parse_entry

    spec = parse_entry(exported["benchmark_entry"])  # flashrank:<model_name>@<folder>
    assert spec.name == f"flashrank:{exported['model_name']}"
    qids = list(candidates)[:3]
    reranked = LibraryReranker(spec).rerank_run(cranfield, candidates, top_k=TOP_K, query_ids=qids)
    direct = flashrank_run(Ranker(model_name=exported["model_name"], cache_dir=exported["cache_dir"]), cranfield,
                           {q: ranked_ids(candidates[q]) for q in qids})
    assert {q: ranked_ids(reranked[q]) for q in qids} == {q: ranked_ids(direct[q]) for q in qids}


def test_int8_is_kept_only_within_the_tolerance_and_the_figures_are_recorded(gated_model_dir, shared_data, tmp_path, offline):
    from rerankft.publish.flashrank import export_flashrank

    check = {"data_path": str(shared_data / "cranfield"), "split": "train", "queries": 4, "top_k": 10}
    info = export_flashrank(gated_model_dir, tmp_path, quantize="auto", check=check)
    ndcg = info["check"]["ndcg@10"]
    assert set(ndcg) == {"fp32", "int8"} and info["check"]["measured_queries"] == 4
    assert info["precision"] == ("int8" if ndcg["int8"] >= ndcg["fp32"] - 0.01 else "fp32")
    assert json.loads((tmp_path / info["model_name"] / "export.json").read_text())["precision"] == info["precision"]


def test_export_settings_are_checked_before_any_model_loads(gated_model_dir, tmp_path):
    from rerankft.core.errors import ConfigError
    from rerankft.publish.flashrank import export_flashrank

    with pytest.raises(ConfigError, match="FlashRank loads only its own model names"):
        export_flashrank(gated_model_dir, tmp_path, model_name="my-reranker")
    with pytest.raises(ConfigError, match="rank_zephyr"):  # listwise GGUF models are no slot for an ONNX graph
        export_flashrank(gated_model_dir, tmp_path, model_name="rank_zephyr_7b_v1_full")
    with pytest.raises(ConfigError, match="quantize="):
        export_flashrank(gated_model_dir, tmp_path, quantize="int4")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("overrides, message", [
    (["run_dir=/nonexistent/run"], "run_dir=/nonexistent/run: no such folder"),
    (["run_dir=.", "format=onnx"], "format='onnx': use one of flashrank"),
])
def test_the_script_reports_a_bad_setting_in_one_line(overrides, message, tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "export.py"), *overrides, f"hydra.run.dir={tmp_path}"],
                       check=False, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
