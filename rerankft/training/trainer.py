"""Fine-tune a cross-encoder with sentence-transformers' CrossEncoderTrainer (accelerate underneath).

``fit_cross_encoder`` is step 2 of ``pipeline.train``:

1. build the model (``build_cross_encoder``: the packaged MiniLM gets a fresh one-logit head);
2. turn the mined hard negatives into rows of the shape the configured loss needs;
3. score the untrained model on the dev queries (recorded as ``base_dev``);
4. train ``train.epochs`` epochs of a learning-rate schedule ``train.schedule_epochs`` long, evaluating
   dev nDCG@10 every ``train.eval_steps`` (default once per epoch) and checkpointing at the same
   cadence into ``<run_dir>/checkpoints`` (each checkpoint also records the time so far, for a resume);
5. keep the best dev checkpoint (``load_best_model_at_end``; with ``adapt.select`` the state the
   label-free stage left competes too) and save it atomically to ``<run_dir>/model``, then write
   ``train_done.json``.

Only the main process writes files. ``train.resume=<run_dir>`` continues from the last
complete checkpoint of that run.

Truncation: ``train.max_length`` is the budget for [CLS] query [SEP] passage [SEP]
together. The installed tokenizer call truncates 'longest_first': tokens come off the
longer of the two texts, which for short queries and long passages means the passage.
How many training pairs were cut is written to the first line of ``train_log.jsonl``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig

from rerankft.core.distributed import world_size
from rerankft.core.errors import ConfigError
from rerankft.core.io import append_jsonl, atomic_dir, write_json
from rerankft.core.runtime import is_main_process
from rerankft.mining.rows import sample_pairs
from rerankft.modeling.build import build_cross_encoder, resolve_head
from rerankft.modeling.dropout import set_dropout
from rerankft.modeling.fast_dropout import fast_dropout
from rerankft.modeling.freeze import (
    freeze_lower_layers,
    gate_rate,
    head_parameter_pattern,
    layer_learning_rates,
)
from rerankft.modeling.heads import make_portable
from rerankft.modeling.names import resolve_model_name
from rerankft.scoring.loading import resolve_precision as resolve_engine_precision
from rerankft.scoring.openvino import CALIBRATION_PAIRS, write_calibration_pairs
from rerankft.scoring.tokens import count_truncated
from rerankft.training.adapt import (
    ADAPTED_STATE,
    adapt_comparing_losses,
    adapt_on_pseudo_queries,
    adapt_once,
    load_adapted_state,
    replay_rows,
    save_adapted_state,
)
from rerankft.training.dev_eval import DevRerankEvaluator
from rerankft.training.losses import (
    add_teacher_scores,
    bce_prior_loss,
    build_loss,
    loss_format,
    pairs_per_example,
    positive_share,
    query_passage_pairs,
)
from rerankft.training.residual import attach_offsets, residual_weight
from rerankft.training.resume import prepare_resume
from rerankft.training.summary import dev_summary_of, train_summary_of
from rerankft.training.train_log import (
    BEST_METRIC,
    InterruptCallback,
    JsonlLogCallback,
    StopAfterSteps,
    earlier_progress,
)
from rerankft.training.windows import rerank_windowing, training_windows

log = logging.getLogger("rerankft")


@dataclass
class TrainResult:
    model_dir: Path
    best_dev: float
    dev_summary: dict
    is_main_process: bool
    train_summary: dict = field(default_factory=dict)
    base_model: str | None = None  # what "base" means in the benchmark: the model exactly as training started


def resolve_precision(name: str) -> dict[str, bool]:
    """``auto`` = bf16 on a GPU that supports it, fp16 on other GPUs; on a CPU bf16 where it computes
    bf16 natively and faster (AVX512-BF16 or AMX and a timed matmul: on an AMD EPYC with AVX512-BF16
    Cranfield's labelled fine-tune took 570 s instead of 798 s, tuned alone on dev within 0.005 of fp32
    on Cranfield, CISI and the demo; README "What to expect"), else fp32 (emulated bf16 is slower, and
    so was bf16 on an Intel Xeon reporting AVX512-BF16). Weights stay fp32 either way (autocast); scoring keeps its
    own setting, ``rerank.precision``."""
    cuda = torch.cuda.is_available()
    if name == "auto":  # the one auto rule, shared with rerank.precision
        name = resolve_engine_precision("auto", "torch", "cuda" if cuda else "cpu")
    if name not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"train.precision={name!r} is unknown: use auto, fp32, bf16 or fp16")
    if name == "fp16" and not cuda:
        raise ConfigError("train.precision=fp16 needs a CUDA GPU; use fp32 (or auto) on CPU")
    return {"bf16": name == "bf16", "fp16": name == "fp16"}


def steps_per_epoch(rows: int, cfg_train: DictConfig) -> int:
    per_step = cfg_train.batch_size * cfg_train.gradient_accumulation_steps * world_size()
    return max(1, rows // per_step if world_size() > 1 else math.ceil(rows / per_step))


def training_arguments(cfg: DictConfig, out_dir: Path, rows: int, has_dev: bool, head_pattern: str | None, layer_rates=None,
                       gate_rates=None):
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    t = cfg.train
    if not 0.0 <= float(t.warmup_ratio) < 1.0:
        raise ConfigError(f"train.warmup_ratio={t.warmup_ratio!r} is invalid: expected a fraction of all steps in [0, 1)")
    for key in ("eval_steps", "logging_steps", "gradient_accumulation_steps"):
        value = t.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"train.{key}={value!r} is invalid: expected a positive integer" + (" or null" if key == "eval_steps" else ""))
    # Evaluation and saving share one cadence: load_best_model_at_end needs every evaluated
    # step to have a checkpoint. "Once per epoch" is expressed in steps so that a run
    # capped by max_steps still evaluates (transformers evaluates and saves at the last step).
    cadence = int(t.eval_steps) if t.get("eval_steps") else steps_per_epoch(rows, t)
    lr_mapping = dict(layer_rates or {})  # train.layer_lr_decay (layer_learning_rates); the head's rate is set last, so it wins
    if t.get("head_learning_rate") is not None and head_pattern:
        lr_mapping[head_pattern] = float(t.head_learning_rate)
    lr_mapping.update(gate_rates or {})  # after the head's pattern, which also matches the gate: the later one wins
    precision = resolve_precision(t.precision)
    return CrossEncoderTrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        # train.schedule_epochs: the schedule (warmup share, linear decay) spans that many epochs; training stops
        # after train.epochs of them (StopAfterSteps), at a learning rate the full schedule has not yet decayed.
        num_train_epochs=float(t.get("schedule_epochs") or t.epochs),
        max_steps=int(t.max_steps),
        learning_rate=float(t.learning_rate),
        learning_rate_mapping=lr_mapping,
        warmup_steps=float(t.warmup_ratio),  # transformers v5: a float < 1 is a ratio of all steps
        weight_decay=float(t.weight_decay),
        per_device_train_batch_size=int(t.batch_size),
        per_device_eval_batch_size=int(t.batch_size),
        gradient_accumulation_steps=int(t.gradient_accumulation_steps),
        gradient_checkpointing=bool(t.gradient_checkpointing),
        **precision,
        seed=int(t.seed),
        data_seed=int(t.seed),
        eval_strategy="steps" if has_dev else "no",
        eval_steps=cadence,
        save_strategy="steps",
        save_steps=cadence,
        save_total_limit=int(t.save_total_limit) if t.get("save_total_limit") else None,
        load_best_model_at_end=has_dev,
        metric_for_best_model=BEST_METRIC if has_dev else None,
        greater_is_better=True,
        logging_steps=int(t.logging_steps),
        logging_first_step=True,
        dataloader_num_workers=int(t.dataloader_workers),
        # A multi-process launch without CUDA: use_cpu makes accelerate pick MULTI_CPU (gloo);
        # otherwise each process would train alone (DistributedType.NO) on the same data. bf16
        # autocast on a CPU is refused by transformers unless use_cpu says the CPU is meant.
        use_cpu=(world_size() > 1 or precision["bf16"]) and not torch.cuda.is_available(),
        # The mean and segment_cosine heads never read BERT's pooler (see build_cross_encoder).
        ddp_find_unused_parameters=True if world_size() > 1 else None,
        # train.report_to: [] (none), or any of the trainer's integrations (tensorboard, wandb, mlflow);
        # train_log.jsonl and the report's curves are written either way.
        report_to=list(t.get("report_to") or []) or "none",
        disable_tqdm=True,  # train_log.jsonl and the log carry progress; bars garble multi-process logs
    )


def training_rows(cfg: DictConfig, mined, max_length: int | None, model=None, adapt_mined=None):
    """The mined negatives in the shape the loss needs; distillation rows get teacher scores.
    ``adapt_mined``: the pseudo-query rows ``adapt.replay`` mixes in (:func:`replay_rows`).

    With ``model`` (the model about to train), long passages become their best window first
    (``train.long_docs``), so a teacher scores the very text the student will read. Returns
    (format, rows, window stats or None).
    """
    fmt = loss_format(cfg.loss)
    rows = mined.to_dataset(fmt, grade_weights=bool(cfg.loss.get("grade_weights")))
    if len(rows) == 0:
        raise ConfigError("mining produced no training rows: check data.splits.train and the miner settings (configs/miner)")
    rows = replay_rows(cfg, rows, adapt_mined, fmt)
    windows = None
    if model is not None:
        rows, windows = training_windows(cfg, rows, model)
    if fmt == "distill":
        rows = add_teacher_scores(rows, cfg.loss.get("teacher"), max_length)
    return fmt, rows, windows


def fit_cross_encoder(cfg: DictConfig, dataset, mined, dev_qrels, dev_run, out_dir, adapt_mined=None, shared_adaptation=None) -> TrainResult:
    """Train on ``mined``, select on dev nDCG@10, save the best model to ``<out_dir>/model``.
    ``adapt_mined``: pseudo-query rows (:mod:`rerankft.mining.pseudo`) trained on first, for
    ``adapt.max_steps`` steps (:mod:`rerankft.training.adapt`); skipped when resuming (the
    checkpoint already holds the adapted weights). ``shared_adaptation``: that stage's file for cross-fitting's folds (:func:`adapt_once`).
    """
    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from transformers import set_seed

    out_dir = Path(out_dir)
    t = cfg.train
    is_main = is_main_process()
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    resume_from = prepare_resume(cfg, out_dir, is_main)

    set_seed(int(t.seed))  # the fresh head's initial weights
    model = build_cross_encoder(cfg.model, int(t.max_length))
    frozen = freeze_lower_layers(model, t.get("freeze_layers", 0))  # both stages train what is left
    dropped = set_dropout(model, t.get("dropout"))  # train.dropout: both stages; None keeps the checkpoint's
    head = resolve_head(cfg.model.head, resolve_model_name(cfg.model.name))
    base_model = _save_base_model(model, head, cfg.model.name, out_dir, is_main)
    fmt, rows, windows = training_rows(cfg, mined, int(t.max_length), model, adapt_mined)
    loss, loss_args = build_loss(cfg.loss, model, rows, int(t.batch_size))
    attach_offsets(loss, mined, cfg, residual_weight(cfg, "labelled"))  # loss.residual: learn what BM25 misses

    has_dev = bool(dev_qrels)
    evaluator = None
    if has_dev:
        evaluator = DevRerankEvaluator(dataset, dev_qrels, dev_run, top_k=int(cfg.dev.top_k), batch_size=max(32, int(t.batch_size)),
                                       max_length=int(t.max_length), windowing=rerank_windowing(cfg))
    else:
        log.warning("no dev queries (data.dev_fraction=0?): no model selection, the last checkpoint is kept")

    layer_rates = layer_learning_rates(model, float(t.learning_rate), t.get("layer_lr_decay"))
    args = training_arguments(cfg, out_dir, len(rows), has_dev, head_parameter_pattern(model), layer_rates, gate_rate(model, t))
    ppe = pairs_per_example(fmt, rows)
    pairs_per_step = t.batch_size * t.gradient_accumulation_steps * world_size() * ppe
    log_path = out_dir / "train_log.jsonl"
    start = _start_record(cfg, fmt, rows, loss_args, ppe, head, resume_from)
    start["long_docs"] = {"mode": str(t.get("long_docs", "truncate")), **(windows or {})}
    start["freeze"] = frozen | {"layer_lr_decay": t.get("layer_lr_decay")} | (dropped or {})
    if is_main:
        _log_start(start, model, fmt, rows, loss_args, int(t.max_length), log_path)

    progress = earlier_progress(resume_from)  # a resumed run's earlier seconds and adaptation summary
    callbacks = [JsonlLogCallback(log_path, pairs_per_step), InterruptCallback(), progress, *_early_stop(t, len(rows))]
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=rows, loss=loss, evaluator=evaluator, callbacks=callbacks)
    base_dev = _base_dev(trainer, out_dir / "dev_base.json", is_main) if has_dev else None
    adapt = adapt_mined is not None and resume_from is None  # a resumed checkpoint already holds the adapted weights
    with fast_dropout(model, bool(t.get("fast_dropout", False))):  # both stages; scoring is untouched
        adapted = _adapt(cfg, trainer, adapt_mined, out_dir, args, base_dev, is_main, shared_adaptation) if adapt else None
        if adapted is not None:
            progress.carried["adapt"] = adapted  # into each checkpoint, and from there into train_done.json
        output = trainer.train(resume_from_checkpoint=resume_from)
    dev_summary = dev_summary_of(trainer.state, dev_qrels, int(cfg.dev.top_k), base_dev, has_dev)
    if has_dev and cfg.adapt.get("select"):
        trainer.accelerator.wait_for_everyone()  # rank 0 saved the adapted state before training
        _keep_adapted_if_better(trainer.model, dev_summary, out_dir)
    train_summary = train_summary_of(trainer.state, output, progress.seconds(), resume_from, start) | progress.carried

    model_dir = out_dir / "model"
    if is_main:
        # trainer.model is the best dev checkpoint (load_best_model_at_end); a killed save
        # leaves only a hidden temporary folder, never a model/ that looks finished.
        with atomic_dir(model_dir) as tmp:
            trainer.model.save_pretrained(str(tmp))
            make_portable(tmp, trainer.model)  # segment_cosine: loads where rerankft is not installed
            write_calibration_pairs(tmp, sample_pairs(mined, CALIBRATION_PAIRS))  # what int8 calibrates on
        write_json(out_dir / "train_done.json", {"model_dir": str(model_dir), "dev": dev_summary, "train": train_summary})
        (out_dir / ADAPTED_STATE).unlink(missing_ok=True)  # model/ holds whichever state won
        log.info("best dev nDCG@10 %.4f at step %s (untrained %.4f); model saved to %s", dev_summary["best_dev"] or float("nan"),
                 dev_summary["best_step"], base_dev or float("nan"), model_dir)
    trainer.accelerator.wait_for_everyone()
    best_dev = dev_summary["best_dev"]
    return TrainResult(model_dir=model_dir, best_dev=best_dev if best_dev is not None else float("nan"),
                       dev_summary=dev_summary, is_main_process=is_main, train_summary=train_summary, base_model=base_model)


def _early_stop(t: DictConfig, rows: int) -> list:
    """[StopAfterSteps] where train.schedule_epochs outlasts train.epochs (and no max_steps cap sets the length)."""
    schedule = t.get("schedule_epochs")
    if schedule is None or float(schedule) <= float(t.epochs) or int(t.max_steps) > 0:
        return []
    return [StopAfterSteps(math.ceil(float(t.epochs) * steps_per_epoch(rows, t)))]


def _adapt(cfg: DictConfig, trainer, adapt_mined, out_dir: Path, args, base_dev: float | None, is_main: bool, shared=None) -> dict:
    """The label-free stage on ``trainer.model``, then its dev score (kept as a candidate with adapt.select).
    With ``adapt.compare`` and dev queries, the stage's loss is chosen on them (:func:`adapt_comparing_losses`)."""
    if base_dev is not None and cfg.adapt.get("compare") and cfg.adapt.get("loss") is not None:
        adapted, adapted_dev = adapt_comparing_losses(cfg, trainer.model, adapt_mined, out_dir, args,
                                                      lambda: trainer.evaluate()[BEST_METRIC])
    else:  # one loss: adapt.loss (or the run's); adapt.compare without dev queries has nothing to judge on: the run's
        own = cfg.loss if cfg.adapt.get("compare") else None
        adapted = adapt_once(shared, trainer.model, lambda: adapt_on_pseudo_queries(cfg, trainer.model, adapt_mined, out_dir, args, own), is_main)
        if base_dev is None:  # no dev queries: nothing to score or to select
            return adapted
        adapted_dev = float(trainer.evaluate()[BEST_METRIC])
        adapted["dev_ndcg@10"] = round(adapted_dev, 4)
    log.info("dev nDCG@10 after adaptation = %.4f (untrained %.4f)", adapted_dev, base_dev)
    if is_main and cfg.adapt.get("select"):
        save_adapted_state(trainer.model, adapted_dev, out_dir)
    return adapted


def _keep_adapted_if_better(model, dev_summary: dict, out_dir: Path) -> None:
    """adapt.select: the adapted state is the model when no labelled checkpoint beat it on dev."""
    adapted = load_adapted_state(out_dir)
    best = dev_summary["best_dev"]
    if adapted is None or not adapted["dev_ndcg@10"] > (best if best is not None and math.isfinite(best) else -math.inf):
        return
    model.load_state_dict(adapted["state"])
    log.info("the adapted state (dev nDCG@10 %.4f) beat every labelled checkpoint (best %.4f): it is the model kept",
             adapted["dev_ndcg@10"], best)
    dev_summary.update(best_dev=adapted["dev_ndcg@10"], best_step=0, best_checkpoint="adapted", labelled_best_dev=best)


def _save_base_model(model, head: str, name: str, out_dir: Path, is_main: bool) -> str:
    """What the benchmark's "base" is: this very model before training.

    A new head (segment_cosine, mean) exists nowhere else, so keep a copy of it in
    ``base_model/``; with the cls head the starting checkpoint itself is the base.
    """
    if head == "cls":
        return name
    if is_main and not (out_dir / "base_model").is_dir():
        with atomic_dir(out_dir / "base_model") as tmp:
            model.save(str(tmp))
            make_portable(tmp, model)
    return str(out_dir / "base_model")


def _start_record(cfg: DictConfig, fmt: str, rows, loss_args: dict, ppe: int, head: str, resume_from: str | None) -> dict:
    """The first line of train_log.jsonl: what is trained, on what, how."""
    t = cfg.train
    return {
        "event": "resume" if resume_from else "start",
        "resumed_from": resume_from,
        "loss": cfg.loss.get("name"),
        "loss_class": cfg.loss.get("_target_"),
        "loss_args": loss_args,
        "format": fmt,
        "train_rows": len(rows),
        "pairs_per_example": ppe,
        "max_length": int(t.max_length),
        "truncation": "longest_first (query and passage share max_length; the longer text is cut first)",
        "world_size": world_size(),
        "precision": {k: v for k, v in resolve_precision(t.precision).items() if v} or "fp32",
        "head": head,
        "train_fingerprint": getattr(rows, "_fingerprint", None),
    }


def _log_start(start: dict, model, fmt: str, rows, loss_args: dict, max_length: int, log_path: Path) -> None:
    """Count truncated training pairs (and the BCE prior) into ``start``; write and log it."""
    pairs = query_passage_pairs(fmt, rows)
    start.update(train_pairs=len(pairs), truncated_pairs=count_truncated(model.tokenizer, pairs, max_length))
    start["truncated_share"] = round(start["truncated_pairs"] / max(1, start["train_pairs"]), 4)
    if fmt == "pairs":
        start["bce_prior"] = bce_prior_loss(positive_share(rows), float(loss_args.get("pos_weight", 1.0) or 1.0))
    append_jsonl(log_path, start)
    log.info("training: %d %s rows, loss %s, %d of %d pairs (%.1f%%) truncated at %d tokens", len(rows), fmt, start["loss"],
             start["truncated_pairs"], start["train_pairs"], 100 * start["truncated_share"], max_length)


def _base_dev(trainer, path: Path, is_main: bool) -> float:
    """The untrained model's dev score, once per run (a resumed run reuses the first measurement)."""
    if path.is_file():
        return json.loads(path.read_text())["base_dev"]
    base_dev = float(trainer.evaluate()[BEST_METRIC])  # all ranks: evaluation is collective
    if is_main:
        write_json(path, {"base_dev": base_dev})
    return base_dev
