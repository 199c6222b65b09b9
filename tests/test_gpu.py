"""The GPU paths: bf16/fp16 training and scoring on CUDA, the dense first stage on the GPU.

Skipped where torch sees no CUDA device (CI has none): run ``pytest tests/test_gpu.py`` on a GPU
machine. Each test compares the GPU's result with what the CPU computes for the same input, so a
kernel or autocast path that silently breaks (NaN losses, fp16 overflow in the gated attention,
weights saved in half precision, a retriever tile on the wrong device) fails here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.test_training import compose_cfg, data, jsonl  # noqa: F401  (data: the module fixture)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

PAIRS = [
    ("my wifi does not work", "How to fix a wifi problem: the wifi guide covers wifi settings."),
    ("my wifi does not work", "How to fix a printer problem: the printer guide covers printer settings."),
    ("refund for my order", "Refunds are paid within 14 days of the return arriving at our warehouse."),
    ("refund for my order", "The battery lasts ten hours; charge it fully before the first use."),
]


@pytest.mark.parametrize("precision", ["bf16", "fp16", "auto"])
def test_training_in_half_precision_on_the_gpu_keeps_fp32_weights(precision, data, tmp_path):  # noqa: F811
    from safetensors import safe_open
    from sentence_transformers import CrossEncoder

    from rerankft.training.trainer import fit_cross_encoder, resolve_precision

    ds, mined, dev_qrels, dev_run = data
    cfg = compose_cfg("loss=bce", "train.max_steps=4", "train.eval_steps=2", f"train.precision={precision}")
    result = fit_cross_encoder(cfg, ds, mined, dev_qrels, dev_run, tmp_path)

    used = resolve_precision(precision)
    if precision == "auto":  # the one auto rule: bf16 where the GPU supports it, else fp16
        assert used == {"bf16": torch.cuda.is_bf16_supported(), "fp16": not torch.cuda.is_bf16_supported()}
    log = jsonl(tmp_path / "train_log.jsonl")
    assert log[0]["precision"] == {k: v for k, v in used.items() if v}
    losses = [r["loss"] for r in log if r["event"] == "train"]
    assert len(losses) == 4 and all(np.isfinite(losses)) and all(x > 0 for x in losses)
    assert all(0.0 <= h["dev_ndcg@10"] <= 1.0 for h in result.dev_summary["history"])
    # Autocast trains fp32 weights: the saved model is fp32 and scores the same on the CPU as on the GPU.
    with safe_open(str(result.model_dir / "model.safetensors"), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    assert dtypes <= {"F32", "I64"}, dtypes
    gpu = CrossEncoder(str(result.model_dir), trust_remote_code=True, device="cuda").predict(PAIRS)
    cpu = CrossEncoder(str(result.model_dir), trust_remote_code=True, device="cpu").predict(PAIRS)
    assert np.allclose(gpu, cpu, atol=1e-3), (gpu, cpu)
    done = json.loads((tmp_path / "train_done.json").read_text())
    assert done["train"]["global_step"] == 4


def test_scoring_precisions_on_the_gpu_agree_with_the_cpu(tmp_path):
    from sentence_transformers import CrossEncoder

    from rerankft.modeling.names import resolve_model_name
    from rerankft.scoring.reranker import Reranker

    # A cross-encoder with a trained-looking head (scaled so scores are not all ~0), saved once.
    torch.manual_seed(0)
    ce = CrossEncoder(resolve_model_name("packaged-minilm"), num_labels=1, max_length=64)
    with torch.no_grad():
        ce.model.classifier.weight.mul_(30.0)
    ce.save_pretrained(str(tmp_path / "ce"))

    cpu = Reranker(str(tmp_path / "ce"), precision="fp32", max_length=64, device="cpu").score(PAIRS)
    scores = {}
    for precision in ("fp32", "bf16", "fp16", "auto"):
        rr = Reranker(str(tmp_path / "ce"), precision=precision, max_length=64, device="cuda")
        assert str(rr.model.device).startswith("cuda")
        scores[precision] = np.asarray(rr.score(PAIRS))
        assert np.all(np.isfinite(scores[precision]))
        if precision == "auto":
            assert rr.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    assert np.allclose(scores["fp32"], cpu, atol=1e-3), (scores["fp32"], cpu)
    spread = float(np.ptp(cpu))
    for precision in ("bf16", "fp16"):  # autocast rounds; it must not reorder pairs the fp32 model separates
        assert np.allclose(scores[precision], cpu, atol=0.02 * spread + 0.05), (precision, scores[precision], cpu)
        for i in (0, 2):  # each query's two passages stay in fp32's order where fp32 separates them
            if abs(cpu[i] - cpu[i + 1]) > 0.1 * spread:
                assert np.sign(scores[precision][i] - scores[precision][i + 1]) == np.sign(cpu[i] - cpu[i + 1])


def test_dense_first_stage_on_the_gpu_ranks_as_on_the_cpu(data, tmp_path):  # noqa: F811
    from omegaconf import OmegaConf

    from rerankft.retrieval.dense import DenseRetriever

    ds = data[0]
    base = OmegaConf.load("configs/retriever/dense.yaml")
    runs = {}
    for device in ("cpu", "cuda"):
        cfg = OmegaConf.merge(base, {"name": "packaged-minilm", "device": device})
        runs[device] = DenseRetriever(cfg, cache_dir=str(tmp_path / device)).retrieve(ds, list(ds.queries), k=5)
    for qid, cpu_docs in runs["cpu"].items():
        gpu_docs = runs["cuda"][qid]
        assert list(gpu_docs)[:1] == list(cpu_docs)[:1], qid
        assert set(gpu_docs) == set(cpu_docs) or len(set(gpu_docs) ^ set(cpu_docs)) <= 2, qid
        for d in set(gpu_docs) & set(cpu_docs):
            assert gpu_docs[d] == pytest.approx(cpu_docs[d], abs=2e-3)
