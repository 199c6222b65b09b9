"""The label-free adaptation stage: a bounded number of steps on pseudo-query rows before the labelled fine-tune.

Mokrii et al. 2021 train BERT rankers on pseudo-labels first and on a few labelled queries
after; here the pseudo-queries come from the corpus itself (:mod:`rerankft.mining.pseudo`)
and the loss is the labelled run's own (``loss=``), so the two stages differ only in their rows.
The stage trains the model in place: no dev selection, no checkpoints (its cost is bounded by
``adapt.max_steps``); the labelled fine-tune that follows selects on dev as always.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time

from omegaconf import DictConfig

from rerankft.core.errors import ConfigError
from rerankft.training.losses import build_loss, loss_format
from rerankft.training.train_log import InterruptCallback
from rerankft.training.windows import training_windows

log = logging.getLogger("rerankft")


def adapt_on_pseudo_queries(cfg: DictConfig, model, mined, out_dir, labelled_args) -> dict:
    """Train ``model`` for ``cfg.adapt.max_steps`` steps on the pseudo-query rows; returns a summary.

    ``labelled_args`` are the labelled stage's training arguments (trainer.training_arguments):
    this stage takes them as they are (batch, precision, head learning rate, multi-process
    settings) and changes only its length, its learning rate, and that it neither evaluates nor saves.
    """
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    t, a = cfg.train, cfg.adapt
    steps = int(a.max_steps)
    if steps < 1:
        raise ConfigError(f"adapt.max_steps={a.max_steps!r} is invalid: expected a positive integer (or adapt=none)")
    rows = mined.to_dataset(loss_format(cfg.loss))
    if len(rows) == 0:
        raise ConfigError("adapt: mining the pseudo-queries produced no rows; use adapt=none")
    rows, _ = training_windows(cfg, rows, model)
    loss, _ = build_loss(cfg.loss, model, rows, int(t.batch_size))
    lr = float(a.get("learning_rate") or t.learning_rate)
    args = dataclasses.replace(
        labelled_args, output_dir=str(out_dir / "adapt_checkpoints"), max_steps=steps, learning_rate=lr,
        eval_strategy="no", save_strategy="no", load_best_model_at_end=False, metric_for_best_model=None,
        logging_first_step=False, report_to="none",
    )
    t0 = time.perf_counter()
    CrossEncoderTrainer(model=model, args=args, train_dataset=rows, loss=loss, callbacks=[InterruptCallback()]).train()
    seconds = time.perf_counter() - t0
    with contextlib.suppress(OSError):
        (out_dir / "adapt_checkpoints").rmdir()  # the trainer makes its output folder; this stage saves nothing
    log.info("adaptation: %d steps on %d pseudo-query rows in %.0f s", steps, len(rows), seconds)
    return {"rows": len(rows), "steps": steps, "learning_rate": lr, "seconds": round(seconds, 1)}
