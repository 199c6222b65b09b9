"""The OpenVINO backends (config ``rerank.backend``): ``openvino``, ``openvino-bf16``, ``openvino-int8``.

openvino       the fp32 ONNX export of :mod:`rerankft.scoring.backends` (the very file the ``onnx``
               backend runs, checked against torch when it was made) read and compiled by
               OpenVINO's CPU plugin
openvino-bf16  the same graph compiled with ``INFERENCE_PRECISION_HINT=bf16``: matmuls in bf16 with
               fp32 accumulation, on CPUs that compute bf16 natively (AVX512-BF16 or AMX). Elsewhere
               OpenVINO would emulate bf16, slower than fp32 and no more exact, so it warns and
               compiles fp32 instead
openvino-int8  that model with NNCF's post-training *static* int8 quantization (weights and
               activations; ``nncf.quantize`` with the transformer preset, calibrated on
               :data:`CALIBRATION_PAIRS` fixed pairs), saved as OpenVINO IR (``model.xml/.bin``)

sentence-transformers reaches OpenVINO through optimum-intel, which does not install next to
transformers 5; the plain ``openvino`` runtime reads an ONNX file itself, so rerankft plugs a
compiled model into the CrossEncoder the way :func:`rerankft.scoring.backends.attach_onnx` plugs
an ONNX Runtime session: tokenization, activation, ``predict``/``rank`` stay sentence-transformers'.

Compile settings: ``PERFORMANCE_HINT=LATENCY`` (one stream: rerankft runs one batch at a time, and
THROUGHPUT's several streams only pay off with requests in flight in parallel; measured the same
pairs/s on 2 cores), ``INFERENCE_NUM_THREADS`` = torch's thread count (the budget of the torch and
ONNX backends) and ``INFERENCE_PRECISION_HINT=f32`` (on CPUs with AVX512-BF16/AMX the CPU plugin
would otherwise run bf16 and ``openvino`` would not match torch; ``openvino-bf16`` asks for it). Shapes stay dynamic (batch and
sequence), as every batch has its own padded length.

The int8 IR lives in ``<cache_dir>/exports/<model fingerprint>/openvino-int8/`` next to the ONNX
exports, written atomically, re-made when the model, the recipe or the calibration set changes.
``openvino`` and ``nncf`` are imported only here and only when one of these backends is asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from rerankft.core.errors import ModelError
from rerankft.core.io import atomic_dir, write_json
from rerankft.scoring import hardware
from rerankft.scoring.backends import (
    EXPORT_VERSION,
    check_scores,
    ensure_onnx_export,
    export_root,
    load_backend_model,
)
from rerankft.scoring.graph import (
    SCORES,
    graph_runner,
    numpy_feed,
    output_name,
    swap_encoder,
)

log = logging.getLogger(__name__)


IR_VERSION = 1  # bump when the quantization recipe changes: cached int8 IR is then re-made

# Calibration: the run's own pairs where the model folder has them (CALIBRATION_FILE, written by
# training: each training row's query with its positive and its hardest negative, the pairs this
# model will meet), else the first queries of the packaged demo collection (by id), each with its
# most relevant judged passage and one it was not judged against. Either way deterministic (a
# cached IR never depends on what was scored first), half relevant and half not, like candidate lists.
CALIBRATION_PAIRS = 192
CALIBRATION_FILE = "calibration_pairs.json"  # in a tuned model's folder: [[query, passage], ...]
CALIBRATION_BATCH = 16  # pairs per calibration batch (padded to the batch's longest, as when scoring)


def _require_openvino(backend: str) -> None:
    """One clear line when the runtime (or, for int8, NNCF) is not installed."""
    try:
        import openvino  # noqa: F401

        if backend == "openvino-int8":
            import nncf  # noqa: F401
    except ImportError as e:
        raise ModelError(
            f"rerank.backend={backend} needs the openvino package{' and nncf' if backend == 'openvino-int8' else ''} "
            f'({e}); install them with  pip install -e ".[openvino]"  (or: pip install openvino nncf)'
        ) from e


def load_openvino_model(
    resolved: str,
    backend: str,
    max_length: int | None,
    device: str | None,
    cache_dir: str | os.PathLike | None,
    fingerprint: str,
    calibration: list[tuple[str, str]] | None = None,
):
    """A CrossEncoder whose encoder runs in OpenVINO on the CPU (``backend``: openvino | openvino-int8).

    ``calibration``: the (query, passage) pairs to calibrate int8 on, default :func:`calibration_pairs`.
    """
    if calibration is None and backend == "openvino-int8":
        calibration = model_calibration_pairs(resolved)
    if device not in (None, "cpu"):
        raise ModelError(f"rerank.backend={backend} runs on the CPU only; use rerank.backend=torch on device={device}")
    _require_openvino(backend)  # before anything loads
    model = load_backend_model(resolved, "torch", max_length, "cpu", cache_dir, fingerprint)
    root = export_root(cache_dir) / fingerprint
    path = ensure_onnx_export(model, "onnx", root / "onnx")  # shared with the onnx backend
    if backend == "openvino-int8":
        if not hardware.int8_dot_cpu():  # measured: 0.95x fp32 torch on an AVX2-only CPU (README, "Reranking speed")
            log.warning("rerank.backend=openvino-int8: this CPU has no int8 dot-product instructions (AVX512-VNNI, "
                        "AVX-VNNI or AMX), so OpenVINO's int8 runs about as fast as fp32 here while moving the scores; "
                        "rerank.backend=onnx-int8 (dynamic int8 with AVX2 kernels) or openvino (fp32) fit this CPU better")
        path = ensure_int8_ir(model, path, root / backend, calibration)
    compiled = _compile(_read(path), INFERENCE_PRECISION_HINT=_precision_hint(backend))
    if backend != "openvino-int8":  # OpenVINO's own conversion of the ONNX graph: checked like every export
        # bf16 keeps 8 bits of mantissa: held to the quantized tolerance (it catches broken graphs, not rounding)
        bf16 = compiled.get_property("INFERENCE_PRECISION_HINT") == _bf16_type()
        check_scores(model, _runner(compiled, model), quantized=bf16, what=f"OpenVINO {backend} model")
    attach_openvino(model, compiled, path)
    return model


def _read(path: Path):
    import openvino as ov

    return ov.Core().read_model(str(path))


def compile_properties() -> dict:
    """The CPU plugin's settings (see the module docstring)."""
    import torch

    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads(), "INFERENCE_PRECISION_HINT": "f32"}


def _precision_hint(backend: str) -> str:
    """``bf16`` for ``openvino-bf16`` where the CPU computes it natively, else ``f32`` (see the docstring)."""
    if backend != "openvino-bf16":
        return "f32"
    if hardware.native_bf16_cpu():
        return "bf16"
    log.warning("rerank.backend=openvino-bf16: this CPU has no native bf16 (AVX512-BF16/AMX); compiling fp32 instead")
    return "f32"


def _bf16_type():
    import openvino as ov

    return ov.Type.bf16


def _compile(ov_model, **extra):
    import openvino as ov

    return ov.Core().compile_model(ov_model, "CPU", {**compile_properties(), **extra})


def _runner(compiled, model):
    """numpy int64 inputs (by name) -> the graph's ``[batch, 1]`` scores, through one reusable infer request."""
    request = compiled.create_infer_request()
    port = compiled.output(SCORES)
    inputs = {i.any_name for i in compiled.inputs}
    return lambda feed: request.infer({k: v for k, v in feed.items() if k in inputs})[port]


def write_calibration_pairs(model_dir: Path, pairs: list[tuple[str, str]]) -> None:
    """Keep the run's calibration pairs in its model folder (training calls this while saving the model)."""
    write_json(Path(model_dir) / CALIBRATION_FILE, [[q, p] for q, p in pairs[:CALIBRATION_PAIRS]])


def model_calibration_pairs(model_dir: str) -> list[tuple[str, str]] | None:
    """The pairs of :data:`CALIBRATION_FILE` in ``model_dir``; ``None`` when it has none (a hub id, a base model)."""
    f = Path(model_dir) / CALIBRATION_FILE
    if not f.is_file():
        return None
    try:
        pairs = [(str(q), str(p)) for q, p in json.loads(f.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError) as e:
        raise ModelError(f"{f}: not a list of [query, passage] pairs ({e}); delete it to calibrate on the demo pairs") from e
    return pairs[:CALIBRATION_PAIRS] or None


def calibration_pairs(n: int | None = None) -> list[tuple[str, str]]:
    """The fixed calibration set (see :data:`CALIBRATION_PAIRS`): ``n`` pairs from the packaged demo collection."""
    from rerankft.data.loading import load_demo

    n = CALIBRATION_PAIRS if n is None else n
    ds = load_demo()
    qrels = {}
    for split in sorted(ds.qrels):
        for q, docs in ds.qrels[split].items():
            qrels.setdefault(q, {}).update(docs)
    doc_ids = sorted(ds.corpus)
    pairs = []
    for i, q in enumerate(sorted(q for q in ds.queries if qrels.get(q))):
        if len(pairs) >= n:
            break
        judged = qrels[q]
        best = max(sorted(judged), key=lambda d: judged[d])
        other = next(doc_ids[(i * 37 + k) % len(doc_ids)] for k in range(len(doc_ids))
                     if doc_ids[(i * 37 + k) % len(doc_ids)] not in judged)
        pairs += [(ds.queries[q], ds.doc_text(best)), (ds.queries[q], ds.doc_text(other))]
    return pairs[:n]


def _calibration_batches(model, pairs, names) -> list[dict]:
    tok = model.tokenizer
    batches = []
    for i in range(0, len(pairs), CALIBRATION_BATCH):
        chunk = pairs[i : i + CALIBRATION_BATCH]
        feats = tok([q for q, _ in chunk], [p for _, p in chunk], padding=True, truncation="longest_first",
                    max_length=model.max_length, return_tensors="np")
        batches.append({n: feats[n].astype(np.int64) for n in names})
    return batches


def ensure_int8_ir(model, onnx_path: Path, out_dir: Path, calibration=None) -> Path:
    """Quantize (once per model, recipe and calibration set) and return the int8 IR's ``model.xml``."""
    import nncf
    import openvino as ov

    pairs = calibration_pairs() if calibration is None else [(str(q), str(p)) for q, p in calibration]
    digest = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]
    target, meta_file = out_dir / "model.xml", out_dir / "export.json"
    if target.is_file() and (out_dir / "model.bin").is_file() and meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text())
            # the IR is made from the fp32 export: a re-made export (new EXPORT_VERSION) invalidates it too
            if (meta.get("ir_version"), meta.get("export_version"), meta.get("calibration_sha256")) == (
                    IR_VERSION, EXPORT_VERSION, digest):
                return target
        except (OSError, json.JSONDecodeError):
            pass  # unreadable metadata: quantize again
    if not pairs:
        raise ModelError("rerank.backend=openvino-int8 needs at least one calibration pair")
    log.info("quantizing to int8 with NNCF on %d calibration pairs into %s (once per model version)", len(pairs), out_dir)
    fp32 = _read(onnx_path)
    batches = _calibration_batches(model, pairs, [i.any_name for i in fp32.inputs])
    try:
        quantized = nncf.quantize(fp32, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(batches))
    except Exception as e:  # any quantizer failure becomes one clear user-facing error
        raise ModelError(f"NNCF int8 quantization failed ({type(e).__name__}: {e}); use rerank.backend=openvino") from e
    max_diff = check_scores(model, _runner(_compile(quantized), model), quantized=True, what="OpenVINO int8 model")
    with atomic_dir(out_dir) as tmp:
        ov.save_model(quantized, str(tmp / "model.xml"), compress_to_fp16=False)  # fp32 stays fp32
        write_json(tmp / "export.json", {
            "ir_version": IR_VERSION, "export_version": EXPORT_VERSION, "backend": "openvino-int8", "openvino": ov.__version__, "nncf": nncf.__version__,
            "calibration_pairs": len(pairs), "calibration_sha256": digest,
            "calibration_source": "demo collection" if calibration is None else "the model's own pairs", "max_abs_logit_diff_on_check": max_diff,
        })
    return target


class OpenVinoScores:
    """tokenizer tensors -> the compiled score graph's ``[batch, 1]`` scores (a torch tensor), through one
    reusable infer request; ``compiled``, ``request`` and ``port`` stay reachable for profiling."""

    def __init__(self, compiled, path: Path):
        self.compiled, self.model_path = compiled, str(path)
        self.request = compiled.create_infer_request()
        self.port = compiled.output(SCORES)
        self.input_names = [i.any_name for i in compiled.inputs]

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None):
        import torch

        feed = numpy_feed(self.input_names, input_ids, attention_mask, token_type_ids)
        return torch.from_numpy(self.request.infer(feed)[self.port])  # infer copies its outputs


def attach_openvino(model, compiled, path: Path) -> None:
    """Swap the CrossEncoder's transformers model (and head) for an OpenVINO compiled score graph."""
    swap_encoder(model, graph_runner(OpenVinoScores(compiled, path), model[0].model.config, str(path), output_name(model)))
