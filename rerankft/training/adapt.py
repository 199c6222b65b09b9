"""The label-free adaptation stage: a bounded number of steps on pseudo-query rows before the labelled fine-tune.

Mokrii et al. 2021 train BERT rankers on pseudo-labels first and on a few labelled queries
after; here the pseudo-queries come from the corpus itself (:mod:`rerankft.mining.pseudo`)
and the loss is the labelled run's own (``loss=``), so the two stages differ only in their rows.
The stage trains the model in place: no dev selection, no checkpoints (its cost is bounded by
``adapt.max_steps``); the labelled fine-tune that follows selects on dev as always.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import torch

from omegaconf import DictConfig

from rerankft.core.errors import ConfigError
from rerankft.training.losses import build_loss, loss_format

log = logging.getLogger("rerankft")


def adapt_on_pseudo_queries(cfg: DictConfig, model, mined, out_dir, head_pattern: str | None) -> dict:
    """Train ``model`` for ``cfg.adapt.max_steps`` steps on the pseudo-query rows; returns a summary."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments

    t, a = cfg.train, cfg.adapt
    steps = int(a.max_steps)
    if steps < 1:
        raise ConfigError(f"adapt.max_steps={a.max_steps!r} is invalid: expected a positive integer (or adapt=none)")
    rows = mined.to_dataset(loss_format(cfg.loss))
    if len(rows) == 0:
        raise ConfigError("adapt: mining the pseudo-queries produced no rows; use adapt=none")
    loss, _ = build_loss(cfg.loss, model, rows, int(t.batch_size))
    lr = float(a.get("learning_rate") or t.learning_rate)
    multi = int(os.environ.get("WORLD_SIZE", "1")) > 1
    args = CrossEncoderTrainingArguments(
        output_dir=str(out_dir / "adapt_checkpoints"), max_steps=steps, learning_rate=lr,
        learning_rate_mapping={head_pattern: float(t.head_learning_rate)} if head_pattern and t.get("head_learning_rate") else {},
        warmup_steps=float(t.warmup_ratio), weight_decay=float(t.weight_decay), per_device_train_batch_size=int(t.batch_size),
        seed=int(t.seed), data_seed=int(t.seed), eval_strategy="no", save_strategy="no", logging_steps=int(t.logging_steps),
        report_to="none", disable_tqdm=True, dataloader_num_workers=int(t.dataloader_workers),
        # as for the labelled stage (trainer.training_arguments): gloo on CPU-only multi-process launches,
        # and the heads that leave BERT's pooler unused
        use_cpu=multi and not torch.cuda.is_available(), ddp_find_unused_parameters=True if multi else None,
    )
    t0 = time.perf_counter()
    CrossEncoderTrainer(model=model, args=args, train_dataset=rows, loss=loss).train()
    seconds = time.perf_counter() - t0
    with contextlib.suppress(OSError):
        (out_dir / "adapt_checkpoints").rmdir()  # the trainer makes its output folder; this stage saves nothing
    log.info("adaptation: %d steps on %d pseudo-query rows in %.0f s", steps, len(rows), seconds)
    return {"rows": len(rows), "steps": steps, "learning_rate": lr, "seconds": round(seconds, 1)}
