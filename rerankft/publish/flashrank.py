"""Export a tuned reranker as a FlashRank model: ``python scripts/export.py run_dir=<run> format=flashrank``.

FlashRank 0.2.x (``flashrank.Ranker``) has no "load this folder" call. ``Ranker(model_name, cache_dir)``
looks for ``<cache_dir>/<model_name>/`` and downloads that folder from FlashRank's Hub bucket only when
it does not exist; it then opens ``flashrank.Config.model_file_map[model_name]`` in it (a name outside
that map is a KeyError) plus ``tokenizer.json``, ``tokenizer_config.json`` (``model_max_length``,
``pad_token``), ``special_tokens_map.json`` and ``config.json`` (``pad_token_id``). So the export takes
one of FlashRank's own pairwise model names (``flashrank.model_name``, default
``ms-marco-MiniLM-L-12-v2``) as the *slot* it fills, and writes, under that name and with the ONNX
file name FlashRank expects, our model into ``<out_dir>/<model_name>/``. Loading it offline is then
plain FlashRank: ``Ranker(model_name=..., cache_dir=<out_dir>)`` (always pass ``cache_dir``: the name
alone means FlashRank's own model in its default cache). Registering a new name in ``model_file_map``
would only work inside the process that did it, not in the ``rerankers`` library or another program.

The graph: encoder *and* scoring head, returning ``[batch, 1]`` scores (FlashRank reads
``outputs[0]`` and applies a sigmoid to a one-column output). For a model whose activation is a
sigmoid (a cls cross-encoder) that is its logit, so FlashRank's score is ``Reranker.score``'s. The
segment_cosine head scores ``scale * cosine + bias`` (about +-20) with no activation; a sigmoid of
that saturates to 1.0 in float32 above ~17 and ties the best passages, so the graph returns the score
divided by ``|scale|`` (about the cosine): a monotone rescaling, the same ranking. ``export.json``
records the divisor (``score_divisor``).

int8 (``quantize=auto``): the fp32 graph is dynamically quantized as ``rerank.backend=onnx-int8`` does;
both are run *through FlashRank* on check queries (by default the run's dev queries, carved from its
training split as training did, never the test split: BM25 top ``check.top_k`` reranked) and int8 is
kept only when its nDCG@10 is at most ``tolerance`` below fp32's. Both figures go into ``export.json``.
Without check queries (a bare model folder, no ``check.data_path``) ``auto`` writes fp32.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from rerankft.core.errors import ConfigError, ModelError, RerankftError
from rerankft.core.io import atomic_dir, write_json
from rerankft.core.runinfo import package_versions
from rerankft.core.settings import select

log = logging.getLogger("rerankft")


FORMATS = ("flashrank",)
DEFAULT_MODEL_NAME = "ms-marco-MiniLM-L-12-v2"
QUANTIZE = ("auto", "int8", "fp32")
OUTPUT = "logits"
CHECK_DEFAULTS = {"data_path": None, "split": "dev", "queries": 50, "top_k": 30}


class ExportError(RerankftError):
    """The export could not be made or does not score like the model; the message says why."""


def flashrank_model_names() -> dict[str, str]:
    """FlashRank's pairwise (ONNX) model names -> the ONNX file name it opens for each."""
    try:
        from flashrank.Config import listwise_rankers, model_file_map
    except ImportError:
        raise ConfigError('format=flashrank needs FlashRank: pip install flashrank (or pip install -e ".[integrations]")') from None
    return {n: f for n, f in model_file_map.items() if n not in listwise_rankers and f.endswith(".onnx")}


def score_divisor(model) -> float:
    """What the graph divides the model's raw score by so FlashRank's sigmoid keeps the ranking (see module doc)."""
    import torch

    if isinstance(model.activation_fn, torch.nn.Sigmoid):
        return 1.0  # FlashRank's sigmoid is the model's own activation
    scale = getattr(model[len(model) - 1], "scale", None)
    return abs(float(scale.detach())) if isinstance(scale, torch.Tensor) and float(scale.detach()) != 0 else 1.0


def _write_tokenizer_files(model, dest: Path, max_length: int) -> None:
    """The files FlashRank's tokenizer setup reads; ``model_max_length`` is the export's ``max_length``, so
    FlashRank (whose own ``max_length`` defaults to 512 and is capped by it) truncates where Reranker does."""
    tok = model.tokenizer
    tok.save_pretrained(str(dest))
    for extra in ("vocab.txt", "added_tokens.json", "chat_template.jinja"):  # FlashRank uses tokenizer.json only
        (dest / extra).unlink(missing_ok=True)
    cfg_file = dest / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    if not tok.pad_token:
        raise ExportError("the model's tokenizer has no pad token; FlashRank pads every batch with one")
    cfg.update(model_max_length=int(max_length), max_length=int(max_length), pad_token=str(tok.pad_token))
    write_json(cfg_file, cfg)
    special = {k: str(v) for k, v in tok.special_tokens_map.items() if isinstance(v, str)}
    write_json(dest / "special_tokens_map.json", special)
    hf = model.model.config
    write_json(dest / "config.json", {"model_type": hf.model_type, "pad_token_id": int(tok.pad_token_id), "num_labels": 1,
                                      "max_position_embeddings": getattr(hf, "max_position_embeddings", None)})


def _load_ranker(cache_dir: Path, name: str):
    from flashrank import Ranker

    if not (cache_dir / name).is_dir():  # FlashRank would download its own model into it
        raise ExportError(f"{cache_dir / name} is missing; FlashRank would download its own '{name}' instead")
    return Ranker(model_name=name, cache_dir=str(cache_dir), log_level="WARNING")


def _check_pairs() -> list[tuple[str, str]]:
    long = " ".join(["the boundary layer thickens downstream of the leading edge and separates near the trailing edge"] * 40)
    return [("what generates lift", "the wing generates lift by deflecting the air downwards over its surface"),
            ("q", "x"), ("how does the boundary layer behave on a flat plate at high mach numbers", long),
            (" ".join(["shock wave interaction"] * 60), long)]


def _check_graph(model, ranker, divisor: float, max_length: int) -> float:
    """FlashRank's tokens and graph output vs rerankft's tokenization and torch scores; returns the max difference."""
    import torch

    from rerankft.scoring.tokens import processing_kwargs

    pairs = _check_pairs()
    batch = model.preprocess(pairs, processing_kwargs=processing_kwargs(max_length, pad=True))
    enc = ranker.tokenizer.encode_batch([[q, p] for q, p in pairs])
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    if ids.shape != tuple(batch["input_ids"].shape) or not np.array_equal(ids, batch["input_ids"].numpy()):
        raise ExportError("FlashRank's tokenizer gives other tokens than the model's own (special tokens or truncation); "
                          "FlashRank could not score this model as rerankft does")
    feed = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}
    types = np.array([e.type_ids for e in enc], dtype=np.int64)
    if types.any():  # FlashRank feeds token_type_ids only when some are non-zero
        feed["token_type_ids"] = types
    try:
        got = ranker.session.run(None, feed)[0].reshape(-1)
    except Exception as e:
        raise ExportError(f"FlashRank cannot run the exported graph ({type(e).__name__}: {e})") from e
    with torch.inference_mode():
        want = (model(batch)["scores"].float().reshape(-1) / divisor).numpy()
    diff = float(np.abs(got - want).max())
    if diff > 1e-3 * max(1.0, float(np.abs(want).max())):
        raise ExportError(f"the FlashRank export scores differently from the model (max diff {diff:.3g} on scores / {divisor:.4g})")
    return diff


@contextlib.contextmanager
def _quiet_root_logger(level: int = logging.ERROR):
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(before, level))
    try:
        yield
    finally:
        root.setLevel(before)


def _stage(model, root: Path, name: str, onnx_file: str, max_length: int, divisor: float, build: str) -> dict[str, Path]:
    """fp32 (and, for ``build="int8"``, int8) FlashRank folders ``root/<precision>/<name>/``; returns precision -> cache_dir."""
    from rerankft.scoring.backends import _export_fp32, _quantize_dynamic, _require_onnx
    from rerankft.scoring.graph import score_graph, traceable_segment_masks

    try:
        _require_onnx()
    except ModelError:
        raise ConfigError('format=flashrank exports with onnx, onnxruntime and onnxscript: pip install -e ".[onnx]"') from None
    stages = {"fp32": root / "fp32"} if build == "fp32" else {"fp32": root / "fp32", "int8": root / "int8"}
    scratch = root / "build"
    scratch.mkdir()
    try:
        # The exporter prints its steps and the fusions log each one: neither is the caller's output.
        with traceable_segment_masks(model), _quiet_root_logger(), contextlib.redirect_stdout(io.StringIO()) as printed:
            fp32 = _export_fp32(model, scratch, graph=score_graph(model, divisor), output=OUTPUT)
        log.debug("ONNX export: %s", printed.getvalue())
    except ModelError as e:
        raise ExportError(f"the ONNX export for FlashRank failed: {str(e.__cause__ or e).strip().splitlines()[0]}") from e
    for precision, cache in stages.items():
        folder = cache / name
        folder.mkdir(parents=True)
        _write_tokenizer_files(model, folder, max_length)
        if precision == "int8":
            with _quiet_root_logger():  # ONNX Runtime's quantizer logs every tensor to the root logger
                _quantize_dynamic(fp32, folder / onnx_file)
        else:
            shutil.copyfile(fp32, folder / onnx_file)
    return stages


def _resolve_check(check: Mapping | None) -> dict:
    check = {**CHECK_DEFAULTS, **{k: v for k, v in dict(check or {}).items() if v is not None}}
    if int(check["queries"]) < 1 or int(check["top_k"]) < 10:
        raise ConfigError(f"check.queries must be >= 1 and check.top_k >= 10 (nDCG@10), got {check['queries']}, {check['top_k']}")
    return check


def check_queries(run_config, check: Mapping, cache_dir=None):
    """(dataset, qrels, BM25 candidates) the int8 decision is measured on, or None when there is no data."""
    from rerankft.data.dataset import carve_dev, dev_seed
    from rerankft.data.loading import load_beir_folder, load_from_config
    from rerankft.retrieval.base import retriever_config
    from rerankft.retrieval.bm25 import BM25Retriever

    split = str(check["split"])
    if check.get("data_path"):
        dataset = load_beir_folder(check["data_path"])
        qrels = dataset.split(split)
    elif select(run_config, "data.kind"):
        dataset = load_from_config(run_config.data, needs=("train",))
        if split == "dev" and "dev" not in dataset.qrels:  # the run's dev queries, carved as training carved them
            train = dataset.split(select(run_config, "data.splits.train", "train"))
            qrels = carve_dev(train, float(select(run_config, "data.dev_fraction", 0.2)), dev_seed(run_config))[1]
        else:
            qrels = dataset.split(split)
    else:
        return None
    qrels = {q: qrels[q] for q in sorted(qrels)[: int(check["queries"])]}
    candidates = BM25Retriever(retriever_config("bm25"), cache_dir).retrieve(dataset, list(qrels), k=int(check["top_k"]))
    return dataset, qrels, candidates


def flashrank_run(ranker, dataset, candidates) -> dict[str, dict[str, float]]:
    """Each query's candidates as FlashRank ranks them (scores by document id)."""
    from flashrank import RerankRequest

    run = {}
    for qid, docs in candidates.items():
        passages = [{"id": d, "text": dataset.doc_text(d)} for d in docs]
        ranked = ranker.rerank(RerankRequest(query=dataset.queries[qid], passages=passages)) if passages else []
        run[qid] = {p["id"]: float(p["score"]) for p in ranked}
    return run


def _choose(quantize: str, stages: dict[str, Path], name: str, checked, tolerance: float) -> tuple[str, dict]:
    """The precision to write, and what was measured to pick it."""
    from rerankft.core.metrics import ndcg_at_10

    if quantize == "fp32" or checked is None:
        note = "not measured (quantize=fp32)" if quantize == "fp32" else "not measured: no check queries"
        if quantize == "auto":
            log.warning("flashrank export: no check queries (a run's data or check.data_path), so fp32 is written; "
                        "int8 is written only where it is measured to keep nDCG@10")
        return quantize if quantize != "auto" else "fp32", {"ndcg@10": note}
    dataset, qrels, candidates = checked
    ndcg = {p: ndcg_at_10(qrels, flashrank_run(_load_ranker(c, name), dataset, candidates)) for p, c in stages.items()}
    delta = ndcg["int8"] - ndcg["fp32"]
    chosen = "int8" if quantize == "int8" or delta >= -tolerance else "fp32"
    log.info("flashrank export: nDCG@10 fp32 %.4f, int8 %.4f (%+.4f) -> %s", ndcg["fp32"], ndcg["int8"], delta, chosen)
    return chosen, {"ndcg@10": ndcg, "int8_minus_fp32": delta, "tolerance": tolerance, "measured_queries": len(qrels),
                    "candidates_per_query": max((len(v) for v in candidates.values()), default=0)}


def default_out_dir(model_dir: Path) -> Path:
    """``<run>/flashrank`` for a train run's model, ``<folder>-flashrank`` next to any other model folder."""
    if model_dir.name == "model" and (model_dir.parent / "config.yaml").is_file():
        return model_dir.parent / "flashrank"
    return model_dir.with_name(model_dir.name + "-flashrank")


def _settings(run_config, max_length, model_name: str, quantize: str) -> tuple[int | None, str]:
    names = flashrank_model_names()
    if model_name not in names:
        raise ConfigError(f"flashrank.model_name={model_name!r}: FlashRank loads only its own model names; use one of "
                          f"{', '.join(sorted(names))} (the folder <out_dir>/<name>/ then holds this model)")
    if quantize not in QUANTIZE:
        raise ConfigError(f"quantize={quantize!r}: use one of {', '.join(QUANTIZE)}")
    max_length = max_length or select(run_config, "rerank.max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 8):
        raise ConfigError(f"max_length must be an integer >= 8 or null, got {max_length!r}")
    return max_length, names[model_name]


def export_flashrank(model_or_run: str | Path, out_dir: str | Path | None = None, *, model_name: str = DEFAULT_MODEL_NAME,
                     quantize: str = "auto", max_length: int | None = None, check: Mapping | None = None,
                     tolerance: float = 0.01, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Write ``<out_dir>/<model_name>/`` for ``flashrank.Ranker(model_name=..., cache_dir=<out_dir>)``; returns export.json's content.

    ``model_or_run``: a train run directory or a model folder. ``max_length``: tokens per pair (default: the
    run's ``rerank.max_length``, else the model's). ``check``: where int8 is measured (``CHECK_DEFAULTS``).
    """
    from rerankft.scoring.loading import load_cross_encoder, run_model_dir

    model_dir = run_model_dir(model_or_run, "run_dir")
    run_file = model_dir.parent / "config.yaml" if model_dir.name == "model" else None
    run_config = OmegaConf.load(run_file) if run_file is not None and run_file.is_file() else OmegaConf.create({})
    max_length, onnx_file = _settings(run_config, max_length, model_name, quantize)
    check = _resolve_check(check)
    out_dir = Path(out_dir).expanduser() if out_dir else default_out_dir(model_dir)
    checked = check_queries(run_config, check, cache_dir) if quantize != "fp32" else None  # data errors before the model loads
    model = load_cross_encoder(str(model_dir), max_length=max_length).eval()  # eval: no dropout in the checks
    if model.num_labels != 1:
        raise ModelError(f"{model_dir} has {model.num_labels} labels; FlashRank ranks with single-score models")
    max_length = int(max_length or model.max_seq_length or 512)
    divisor = score_divisor(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".flashrank-export-", dir=out_dir) as work:
        built = "fp32" if quantize == "fp32" or (quantize == "auto" and checked is None) else "int8"
        stages = _stage(model, Path(work), model_name, onnx_file, max_length, divisor, built)
        diff = _check_graph(model, _load_ranker(stages["fp32"], model_name), divisor, max_length)
        chosen, measured = _choose(quantize, stages, model_name, checked, tolerance)
        info = {
            "format": "flashrank", "model_name": model_name, "onnx_file": onnx_file, "precision": chosen,
            "quantize": quantize, "source_model": str(model_dir.resolve()), "max_length": max_length,
            "score_divisor": divisor, "flashrank_score": f"sigmoid(model score / {divisor:.6g})",
            "max_abs_diff_fp32_vs_torch": diff, "check": {**check, **measured}, "cache_dir": str(out_dir.resolve()),
            "usage": f"flashrank.Ranker(model_name={model_name!r}, cache_dir={str(out_dir.resolve())!r})",
            "benchmark_entry": f"flashrank:{model_name}@{out_dir.resolve()}", "versions": package_versions(("rerankft", "flashrank", "onnxruntime", "torch")),
        }
        with atomic_dir(out_dir / model_name) as tmp:
            shutil.copytree(stages[chosen] / model_name, tmp, dirs_exist_ok=True)
            write_json(tmp / "export.json", info)
    log.info("FlashRank model (%s) written to %s; load it with %s", chosen, out_dir / model_name, info["usage"])
    return info


def export_run(cfg) -> dict[str, Any]:
    """``python scripts/export.py run_dir=<run> format=flashrank``: see configs/export.yaml."""
    run_dir = select(cfg, "run_dir")
    if not run_dir:
        raise ConfigError("run_dir is required: python scripts/export.py run_dir=outputs/train/<run> format=flashrank")
    fmt = select(cfg, "format")
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r}: use one of {', '.join(FORMATS)}")
    check = select(cfg, "check")
    return export_flashrank(
        run_dir, select(cfg, "out_dir"), model_name=str(select(cfg, "flashrank.model_name", DEFAULT_MODEL_NAME)),
        quantize=str(select(cfg, "quantize", "auto")), max_length=select(cfg, "max_length"),
        check=OmegaConf.to_container(check) if OmegaConf.is_config(check) else check,
        tolerance=float(select(cfg, "tolerance", 0.01)), cache_dir=select(cfg, "cache_dir"),
    )
