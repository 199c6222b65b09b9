"""Load a cross-encoder on one of rerankft's backends (config ``rerank.backend``).

torch          the model as trained (``precision=fp16|bf16`` adds autocast, meant for GPUs)
onnx           ONNX Runtime, fp32, with ONNX Runtime's transformer fusions
onnx-int8      the same graph with dynamic int8 quantization of the linear layers
openvino       the fp32 ONNX export (the ``onnx`` backend's file) compiled by OpenVINO's CPU plugin
openvino-bf16  the same compiled with bf16 matmuls (on CPUs with native bf16: AVX512-BF16 or AMX)
openvino-int8  that model with NNCF's post-training static int8 quantization, cached as OpenVINO IR
               (all three in :mod:`rerankft.scoring.openvino`; they need the ``openvino`` extra)

Why our own ONNX export instead of ``CrossEncoder(backend="onnx")`` and
``export_dynamic_quantized_onnx_model``: sentence-transformers delegates both to
Hugging Face ``optimum``, and no optimum release installs next to transformers 5 yet
(optimum-onnx 0.1.0, the newest, requires ``transformers<4.58`` and ``optimum~=2.1``;
the old optimum 1.x imports ``transformers.utils.is_tf_available``, removed in
transformers 5). So we do the same three steps with the libraries they wrap:
``torch.onnx.export`` (the torch.export-based exporter, which needs ``onnxscript``),
``onnxruntime.transformers.optimizer`` (the fusions behind optimum's O1-O4 levels) and
``onnxruntime.quantization.quantize_dynamic`` (what optimum's ``AutoQuantizationConfig``
dynamic int8 configs run). Every export is checked against the torch model's logits
before it is used. The OpenVINO backends (sentence-transformers reaches them through
optimum-intel, which does not install next to transformers 5 either) read the same ONNX file
with the plain ``openvino`` runtime and quantize it with ``nncf``.

The ONNX session is plugged *into* the loaded CrossEncoder, in place of its transformers
model (as optimum's ORTModel is when sentence-transformers loads ``backend="onnx"``), so
tokenization, activation and ``predict``/``rank`` stay sentence-transformers' own.

Exports live in ``<cache_dir>/exports/<model fingerprint>/<backend>/``: made once per model
content, re-made when the model is retrained.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from rerankft.core.errors import ModelError
from rerankft.core.io import atomic_dir, write_json
from rerankft.scoring.graph import (
    SCORES,
    graph_runner,
    numpy_feed,
    output_name,
    score_graph,
    swap_encoder,
    traceable_segment_masks,
)

log = logging.getLogger(__name__)


EXPORT_VERSION = 4  # bump when the export recipe changes: old exports are then re-made


def load_backend_model(
    resolved: str,
    backend: str,
    max_length: int | None,
    device: str | None,
    cache_dir: str | os.PathLike | None,
    fingerprint: str,
):
    from sentence_transformers import CrossEncoder

    if backend.startswith("openvino"):  # rerankft.scoring.loading sends those to rerankft.scoring.openvino
        raise ModelError(f"rerank.backend={backend}: load it with rerankft.scoring.openvino.load_openvino_model")
    if backend != "torch" and device not in (None, "cpu"):
        raise ModelError(f"rerank.backend={backend} runs on the CPU only; use rerank.backend=torch on device={device}")
    from rerankft.modeling.heads import needs_trust

    # Our own scoring heads (rerankft.modeling.heads) live outside sentence-transformers, which imports
    # such classes only with trust_remote_code; we trust our own package, nothing else.
    model = _construct(CrossEncoder, resolved, max_length=max_length, device=device if backend == "torch" else "cpu",
                       trust_remote_code=True if needs_trust(resolved) else None)
    if backend == "torch":
        return model
    onnx_path = ensure_onnx_export(model, backend, export_root(cache_dir) / fingerprint / backend)
    attach_onnx(model, onnx_path)
    return model


def _construct(cls, resolved: str, **kwargs):
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return cls(resolved, **kwargs)
    except (OSError, ValueError) as e:
        hint = ""
        if not Path(resolved).exists():
            hint = (
                " If this is a Hugging Face Hub id, the Hub must be reachable or the model must be in the local "
                "cache (HF_HUB_OFFLINE=1 only uses the cache); a local folder must exist."
            )
        raise ModelError(f"cannot load cross-encoder '{resolved}': {e}.{hint}") from e


def export_root(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is None:
        # No cache_dir: exports still need a home; a per-process temp folder (re-exported next run).
        return Path(tempfile.mkdtemp(prefix="rerankft-export-"))
    return Path(cache_dir) / "exports"


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ModelError(
            f"rerank.backend=onnx/onnx-int8 needs onnx, onnxruntime and onnxscript ({e}); "
            'install them with  pip install -e ".[onnx]"'
        ) from e


def _example_inputs(model):
    """Two pairs of different lengths, so the exported graph keeps the padding path."""
    tok = model.tokenizer
    feats = tok(
        ["what generates lift", "q"],
        ["the wing generates lift by deflecting the air downwards over its surface", "x"],
        padding=True,
        return_tensors="pt",
    )
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in feats]
    return names, feats


def ensure_onnx_export(model, backend: str, out_dir: Path) -> Path:
    """Export (once) and return the .onnx file for ``backend`` (onnx | onnx-int8)."""
    _require_onnx()
    target = out_dir / "model.onnx"
    meta_file = out_dir / "export.json"
    if target.is_file() and meta_file.is_file():
        try:
            if json.loads(meta_file.read_text()).get("export_version") == EXPORT_VERSION:
                return target
        except (OSError, json.JSONDecodeError):
            pass  # unreadable metadata: export again

    log.info("exporting %s to %s (once per model version)", backend, out_dir)
    with atomic_dir(out_dir) as tmp:
        fp32 = _export_fp32(model, tmp)
        final = tmp / "model.onnx"
        if backend == "onnx-int8":
            _quantize_dynamic(fp32, final)
            fp32.unlink()
        else:
            fp32.rename(final)
        max_diff = _check_export(model, final, quantized=backend == "onnx-int8")
        import onnxruntime
        import torch

        write_json(
            tmp / "export.json",
            {"export_version": EXPORT_VERSION, "backend": backend, "torch": torch.__version__,
             "onnxruntime": onnxruntime.__version__, "max_abs_logit_diff_on_check": max_diff},
        )
    return target


def _export_fp32(model, out_dir: Path, graph=None, output: str = SCORES) -> Path:
    """The fp32 ONNX file of the model's :func:`score_graph` (one output, ``output``), fused where ONNX Runtime can.

    ``graph``: another module to export, called with the tokenizer's tensors and returning one
    tensor (rerankft.publish.flashrank's divides the scores by its divisor).
    """
    import onnx
    import torch

    hf = model.model
    names, feats = _example_inputs(model)
    was_training = hf.training
    hf.eval()
    # Export the eager attention, not SDPA: the SDPA export guards its softmax with
    # Where(IsNaN(...)) nodes that ONNX Runtime runs as separate ops, measured at 19-23% of the
    # ONNX compute on Cranfield pairs (benchmarks/bench_rerank.py profile); eager's graph has none.
    attn = getattr(hf.config, "_attn_implementation", None)
    switch_attn = attn not in (None, "eager") and hasattr(hf, "set_attn_implementation")
    if switch_attn:
        hf.set_attn_implementation("eager")
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    raw = out_dir / "raw.onnx"
    try:
        with traceable_segment_masks(model):
            torch.onnx.export(
                (graph if graph is not None else score_graph(model)).eval(),
                tuple(feats[n] for n in names),
                str(raw),
                input_names=names,
                output_names=[output],
                dynamic_shapes={n: {0: batch, 1: seq} for n in names},
                dynamo=True,
                optimize=True,
                external_data=False,
            )
    except Exception as e:
        raise ModelError(f"ONNX export of {type(hf).__name__} failed ({type(e).__name__}: {e}); use rerank.backend=torch") from e
    finally:
        hf.train(was_training)
        if switch_attn:
            hf.set_attn_implementation(attn)
    # The exporter stores intermediate shapes (value_info) that ONNX Runtime's quantizer re-infers
    # and rejects as inconsistent; they are optional, so drop them.
    proto = onnx.load(str(raw))  # also pulls any external weight data into memory
    proto.graph.ClearField("value_info")
    clean = out_dir / "clean.onnx"
    onnx.save(proto, str(clean))
    out = out_dir / "fp32.onnx"
    cfg = hf.config
    if cfg.model_type in ("bert", "roberta", "xlm-roberta", "electra"):
        # ONNX Runtime's transformer fusions (SkipLayerNormalization, BiasGelu, ...): what optimum's
        # export_optimized_onnx_model runs. Models it does not know keep ORT's generic optimizations.
        from onnxruntime.transformers import optimizer

        opt = optimizer.optimize_model(
            str(clean), model_type="bert", num_heads=cfg.num_attention_heads, hidden_size=cfg.hidden_size, opt_level=1
        )
        opt.save_model_to_file(str(out), use_external_data_format=False)
        clean.unlink()
    else:
        clean.rename(out)
    for f in out_dir.glob("raw.onnx*"):
        f.unlink()
    return out


def _quantize_dynamic(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Signed int8 weights, per-tensor: the recipe of optimum's AutoQuantizationConfig.avx2(is_static=False)
    # (these CPUs have AVX2, no VNNI). Fused ops are typed via DefaultTensorType.
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False, reduce_range=False,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _check_export(model, onnx_path: Path, quantized: bool) -> float:
    """Compare the export's scores with the torch model's on a few pairs; refuse a broken export."""
    session = _session(onnx_path)
    return check_scores(model, lambda feed: session.run([SCORES], feed)[0], quantized, "ONNX export")


def check_scores(model, run, quantized: bool, what: str) -> float:
    """Max |score difference| between ``run`` (numpy int64 inputs -> the graph's ``[batch, 1]`` scores)
    and the torch model (the folder's own code) on a few pairs; a :class:`ModelError` naming ``what``
    when it is beyond the tolerance."""
    import torch

    names, feats = _example_inputs(model)
    got = np.asarray(run({n: feats[n].numpy().astype(np.int64) for n in names}), dtype=np.float64)
    with torch.inference_mode():
        want = score_graph(model)(*(feats[n] for n in names)).double().numpy()
    if got.shape != want.shape:
        raise ModelError(f"the {what} of this model returns scores of shape {got.shape}, torch {want.shape}; use rerank.backend=torch")
    diff = float(np.abs(got - want).max())
    # int8 moves scores; allow that relative to the score scale (segment_cosine spans ~[-20, 20] and
    # scales token-state errors by its cosine scale). This catches broken exports, not int8 noise.
    tol = 0.5 + 0.15 * float(np.abs(want).max()) if quantized else 1e-3
    if diff > tol:
        raise ModelError(f"the {what} of this model gives different scores (max diff {diff:.3g}); use rerank.backend=torch")
    return diff


def _session(onnx_path: Path):
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = torch.get_num_threads()  # same thread budget as the torch backend
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])


class OnnxScores:
    """tokenizer tensors -> the ONNX Runtime session's ``[batch, 1]`` scores (a torch tensor);
    ``session`` and ``onnx_path`` stay reachable for profiling."""

    def __init__(self, onnx_path: Path):
        self.onnx_path = str(onnx_path)
        self.session = _session(onnx_path)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None):
        import torch

        feed = numpy_feed(self.input_names, input_ids, attention_mask, token_type_ids)
        return torch.from_numpy(self.session.run([SCORES], feed)[0])


def attach_onnx(model, onnx_path: Path) -> None:
    """Swap the CrossEncoder's transformers model (and head) for an ONNX Runtime session of the score graph."""
    swap_encoder(model, graph_runner(OnnxScores(onnx_path), model[0].model.config, str(onnx_path), output_name(model)))


