"""The OpenVINO backends: fp32 matches torch, int8 is quantized once and cached, a missing package is one line."""

from __future__ import annotations

import json
import logging
import sys

import numpy as np
import pytest

from rerankft.core.errors import ModelError
from tests.rerank_fixtures import random_head_model_dir
from tests.test_rerank import mixed_pairs


@pytest.fixture(scope="module")
def model_dir():
    return random_head_model_dir()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One cache for the module: the fp32 ONNX export (~20 s on 2 cores) is made once for both backends."""
    return tmp_path_factory.mktemp("openvino-cache")


@pytest.fixture(scope="module")
def expected(model_dir):
    from sentence_transformers import CrossEncoder

    return CrossEncoder(model_dir, device="cpu").predict(mixed_pairs(40, seed=5))


def _ranking(scores):
    return np.argsort(-np.asarray(scores), kind="stable")


def test_openvino_fp32_matches_torch(cache_dir, model_dir, expected):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxscript")
    from rerankft.scoring.reranker import Reranker

    got = Reranker(model_dir, backend="openvino", cache_dir=cache_dir, score_cache=False).score(mixed_pairs(40, seed=5))
    assert np.abs(got - expected).max() < 1e-3
    assert np.array_equal(_ranking(got), _ranking(expected))
    # It compiles the onnx backend's own fp32 export: one export for both backends.
    assert sorted(p.parent.name for p in cache_dir.glob("exports/*/*/model.onnx")) == ["onnx"]


def test_openvino_int8_is_quantized_once_and_stays_close(cache_dir, model_dir, expected, monkeypatch):
    pytest.importorskip("openvino")
    nncf = pytest.importorskip("nncf")
    pytest.importorskip("onnxscript")
    from rerankft.scoring import openvino as ov_backend
    from rerankft.scoring.reranker import Reranker

    monkeypatch.setattr(ov_backend, "CALIBRATION_PAIRS", 32)  # the default 192 takes ~30 s on 2 cores
    pairs = mixed_pairs(40, seed=5)
    got = Reranker(model_dir, backend="openvino-int8", cache_dir=cache_dir, score_cache=False).score(pairs)
    (ir,) = cache_dir.glob("exports/*/openvino-int8/model.xml")
    assert ir.with_suffix(".bin").is_file()
    meta = json.loads((ir.parent / "export.json").read_text())
    assert meta["calibration_pairs"] == 32
    # Quantized: close, not equal (the onnx-int8 test's bounds).
    assert np.abs(got - expected).max() < 0.05
    assert np.corrcoef(got, expected)[0, 1] > 0.95

    def no_requantizing(*_, **__):
        raise AssertionError("the cached int8 IR was quantized again")

    monkeypatch.setattr(nncf, "quantize", no_requantizing)
    again = Reranker(model_dir, backend="openvino-int8", cache_dir=cache_dir, score_cache=False).score(pairs)
    assert np.abs(again - got).max() < 1e-5

    # An IR made from an older fp32 export (another output, say) is stale even with the same calibration set.
    meta["export_version"] = meta["export_version"] - 1
    (ir.parent / "export.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="quantized again"):  # the quantizer was called: re-made
        Reranker(model_dir, backend="openvino-int8", cache_dir=cache_dir, score_cache=False).score(pairs)


def test_openvino_bf16_compiles_bf16_where_native_and_stays_close(cache_dir, model_dir, expected, monkeypatch):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxscript")
    import openvino as ov

    from rerankft.scoring import hardware
    from rerankft.scoring.openvino import _precision_hint
    from rerankft.scoring.reranker import Reranker

    # OpenVINO's CPU plugin compiles bf16 only where the CPU has it: elsewhere it keeps f32 whatever is asked
    ov_bf16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    pairs = mixed_pairs(40, seed=5)
    for native in (True, False):  # either CPU, whatever this one is: the hint asked for follows native bf16
        monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: native)
        assert _precision_hint("openvino-bf16") == ("bf16" if native else "f32")
        engine = Reranker(model_dir, backend="openvino-bf16", cache_dir=cache_dir, score_cache=False)
        hint = engine.model[0].model.run.compiled.get_property("INFERENCE_PRECISION_HINT")
        bf16 = native and ov_bf16
        assert str(hint) == ("<Type: 'bfloat16'>" if bf16 else "<Type: 'float32'>"), hint
        got = engine.score(pairs)
        # bf16 rounds activations: close to fp32 torch and the same order on clear gaps, not bit-equal
        assert np.abs(got - expected).max() < (0.05 if bf16 else 1e-3)
        assert np.corrcoef(got, expected)[0, 1] > 0.99
    # It compiles the same fp32 ONNX export as openvino and onnx: nothing new on disk.
    assert sorted(p.parent.name for p in cache_dir.glob("exports/*/*/model.onnx")) == ["onnx"]


def test_openvino_int8_calibrates_on_the_models_own_pairs(model_dir, tmp_path, monkeypatch, caplog):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    pytest.importorskip("onnxscript")
    import shutil

    from rerankft.scoring import openvino as ov_backend
    from rerankft.scoring.reranker import Reranker

    tuned = tmp_path / "model"
    shutil.copytree(model_dir, tuned)
    own = mixed_pairs(12, seed=9)
    ov_backend.write_calibration_pairs(tuned, own)
    seen = []
    real = ov_backend._calibration_batches
    monkeypatch.setattr(ov_backend, "_calibration_batches", lambda model, pairs, names: seen.append(pairs) or real(model, pairs, names))
    from rerankft.scoring import hardware

    # Without int8 dot-product instructions OpenVINO's int8 is no faster than fp32: the run says so, and still runs.
    monkeypatch.setattr(hardware, "int8_dot_cpu", lambda: False)
    with caplog.at_level(logging.WARNING, logger="rerankft"):
        Reranker(str(tuned), backend="openvino-int8", cache_dir=tmp_path / "cache", score_cache=False)
    assert seen == [[(str(q), str(p)) for q, p in own]]
    assert any("no int8 dot-product instructions" in r.getMessage() and "onnx-int8" in r.getMessage() for r in caplog.records)
    caplog.clear()
    monkeypatch.setattr(hardware, "int8_dot_cpu", lambda: True)
    with caplog.at_level(logging.WARNING, logger="rerankft"):
        Reranker(str(tuned), backend="openvino-int8", cache_dir=tmp_path / "cache", score_cache=False)  # cached IR
    assert not any("int8 dot-product" in r.getMessage() for r in caplog.records)
    assert len(seen) == 1  # quantized once per model version
    (meta,) = (tmp_path / "cache").glob("exports/*/openvino-int8/export.json")
    assert json.loads(meta.read_text())["calibration_source"] == "the model's own pairs"
    (tuned / ov_backend.CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="calibration_pairs.json: not a list"):
        Reranker(str(tuned), backend="openvino-int8", cache_dir=tmp_path / "cache2", score_cache=False)


@pytest.mark.parametrize("backend, missing", [("openvino", "openvino"), ("openvino-int8", "nncf")])
def test_a_missing_package_is_one_clear_line(model_dir, monkeypatch, backend, missing):
    from rerankft.scoring.reranker import Reranker

    monkeypatch.setitem(sys.modules, missing, None)  # `import <missing>` now raises ImportError
    with pytest.raises(ModelError, match=r'pip install -e "\.\[openvino\]"') as err:
        Reranker(model_dir, backend=backend)
    assert "\n" not in str(err.value) and missing in str(err.value)


def test_openvino_runs_on_the_cpu_only(model_dir):
    from rerankft.scoring.reranker import Reranker

    with pytest.raises(ModelError, match="CPU only"):
        Reranker(model_dir, backend="openvino", device="cuda")


@pytest.mark.slow
def test_openvino_runs_the_gated_segment_cosine_head(tmp_path):
    """The offline default's head: the gated body's mask and positions built inside the graph, the head in torch."""
    pytest.importorskip("openvino")
    pytest.importorskip("onnxscript")
    from sentence_transformers import CrossEncoder

    from rerankft.scoring.reranker import Reranker
    from tests.rerank_fixtures import tuned_segment_cosine_model_dir

    path = tuned_segment_cosine_model_dir(segment_gate=-4.0)
    pairs = mixed_pairs(40, seed=6)
    want = CrossEncoder(path, trust_remote_code=True).predict(pairs)
    got = Reranker(path, backend="openvino", cache_dir=tmp_path).score(pairs)
    assert np.abs(got - want).max() < 1e-3
