"""The label-free adaptation stage: a bounded number of steps on pseudo-query rows before the labelled fine-tune.

Mokrii et al. 2021 train BERT rankers on pseudo-labels first and on a few labelled queries
after; here the pseudo-queries come from the corpus itself (:mod:`rerankft.mining.pseudo`)
and the loss is the labelled run's own (``loss=``) unless ``adapt.loss`` names one for this stage
(e.g. ListNet on lists the first stages graded, :mod:`rerankft.mining.teacher`).
The stage trains the model in place, with no checkpoints of its own (its cost is bounded by
``adapt.max_steps``); the labelled fine-tune that follows selects on dev as always. With
``adapt.select`` the adapted weights are one more candidate of that selection: on a small domain
the labelled steps can end below where the label-free stage left the model, and then the dev
queries keep the adapted state (saved in ``adapted_state.pt``, so a resumed run still has it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path

from omegaconf import DictConfig

from rerankft.core.errors import ConfigError
from rerankft.core.io import atomic_path
from rerankft.core.settings import stage_loss
from rerankft.modeling.dropout import dropout_during
from rerankft.modeling.freeze import layer_learning_rates
from rerankft.training.losses import build_loss, loss_format
from rerankft.training.residual import attach_offsets, residual_weight
from rerankft.training.train_log import InterruptCallback
from rerankft.training.windows import training_windows

log = logging.getLogger("rerankft")

ADAPTED_STATE = "adapted_state.pt"


def adapt_on_pseudo_queries(cfg: DictConfig, model, mined, out_dir, labelled_args, cfg_loss=None) -> dict:
    """Train ``model`` for ``cfg.adapt.max_steps`` steps on the pseudo-query rows; returns a summary.

    ``cfg_loss``: the loss settings to train with (None: ``adapt.loss``, else the run's ``loss``).

    ``labelled_args`` are the labelled stage's training arguments (trainer.training_arguments):
    this stage takes them as they are (batch, precision, head learning rate, multi-process
    settings) and changes only its length, its learning rate (with the layers' rates under
    ``train.layer_lr_decay``), and that it neither evaluates nor saves.
    """
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    t, a = cfg.train, cfg.adapt
    steps = int(a.max_steps)
    if steps < 1:
        raise ConfigError(f"adapt.max_steps={a.max_steps!r} is invalid: expected a positive integer (or adapt=none)")
    cfg_loss = cfg_loss if cfg_loss is not None else stage_loss(cfg, "adapt")
    rows = mined.to_dataset(loss_format(cfg_loss))
    if len(rows) == 0:
        raise ConfigError("adapt: mining the pseudo-queries produced no rows; use adapt=none")
    rows, _ = training_windows(cfg, rows, model)
    loss, _ = build_loss(cfg_loss, model, rows, int(t.batch_size))
    attach_offsets(loss, mined, cfg, residual_weight(cfg, "adapt"))
    lr = float(a.get("learning_rate") or t.learning_rate)
    # train.layer_lr_decay: the layers' rates scale with this stage's own rate (the head's stays)
    rates = {**labelled_args.learning_rate_mapping, **layer_learning_rates(model, lr, t.get("layer_lr_decay"))}
    args = dataclasses.replace(
        labelled_args, output_dir=str(out_dir / "adapt_checkpoints"), max_steps=steps, learning_rate=lr, learning_rate_mapping=rates,
        eval_strategy="no", save_strategy="no", load_best_model_at_end=False, metric_for_best_model=None,
        logging_first_step=False, report_to="none",
    )
    t0 = time.perf_counter()
    with dropout_during(model, a.get("dropout")):  # adapt.dropout: this stage only (null: train.dropout's)
        CrossEncoderTrainer(model=model, args=args, train_dataset=rows, loss=loss, callbacks=[InterruptCallback()]).train()
    seconds = time.perf_counter() - t0
    with contextlib.suppress(OSError):
        (out_dir / "adapt_checkpoints").rmdir()  # the trainer makes its output folder; this stage saves nothing
    log.info("adaptation: %d steps on %d pseudo-query rows in %.0f s", steps, len(rows), seconds)
    return {"loss": cfg_loss.get("name"), "rows": len(rows), "steps": steps, "learning_rate": lr, "dropout": a.get("dropout"),
            "seconds": round(seconds, 1)}


def adapt_comparing_losses(cfg: DictConfig, model, mined, out_dir, labelled_args, dev_score) -> tuple[dict, float]:
    """``adapt.compare``: the stage run twice from the same start, with the run's ``loss`` and with
    ``adapt.loss``; the state with the better dev nDCG@10 (``dev_score()``) goes on, the run's loss on
    ties. Returns (the chosen branch's summary with both branches under "compared", its dev nDCG@10).

    Why a choice and not one loss: lists graded by BM25 and the bi-encoder lifted Cranfield's adapted
    model on dev (0.362 -> 0.396) and not CISI's (0.448 -> 0.448) or the demo's (0.874 -> 0.855).
    Not the default: on Cranfield the choice took the lists, and its final system fell on test
    (README "What to expect"). Each branch starts from the same weights and random state, and the
    chosen one's random state after it is restored, so the run continues exactly as a run with that
    loss alone would. (The pseudo-queries are graded once: with ``loss=teacher_listnet`` both
    branches read the lists graded by ``adapt.loss``'s teacher settings.)
    """
    start, rng = _weights(model), _rng_state()
    branches = {}
    for key, cfg_loss in (("loss", cfg.loss), ("adapt.loss", cfg.adapt.loss)):
        model.load_state_dict(start)
        _set_rng_state(rng)
        summary = adapt_on_pseudo_queries(cfg, model, mined, out_dir, labelled_args, cfg_loss=cfg_loss)
        dev = float(dev_score())
        branches[key] = (dev, {**summary, "dev_ndcg@10": round(dev, 4)}, _weights(model), _rng_state())
        log.info("adaptation with %s (%s): dev nDCG@10 %.4f", key, cfg_loss.get("name"), dev)
    chosen = "adapt.loss" if branches["adapt.loss"][0] > branches["loss"][0] else "loss"
    dev, summary, weights, state = branches[chosen]
    model.load_state_dict(weights)
    _set_rng_state(state)
    return {**summary, "compared": {k: b[1] for k, b in branches.items()}, "chosen": chosen}, dev


def _weights(model) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _rng_state() -> tuple:
    import random

    import numpy as np
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda


def _set_rng_state(state: tuple) -> None:
    import random

    import numpy as np
    import torch

    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])
    if state[3] is not None:
        torch.cuda.set_rng_state_all(state[3])


def save_adapted_state(model, dev_ndcg: float, out_dir: Path) -> None:
    """Keep the adapted weights and their dev nDCG@10 as a candidate for the labelled stage's selection."""
    import torch

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # torch.save writes them now: no copy kept
    with atomic_path(Path(out_dir) / ADAPTED_STATE) as tmp:
        torch.save({"dev_ndcg@10": float(dev_ndcg), "state": state}, tmp)


def load_adapted_state(out_dir: Path) -> dict | None:
    """What :func:`save_adapted_state` kept for this run, or None."""
    import torch

    path = Path(out_dir) / ADAPTED_STATE
    return torch.load(path, weights_only=True) if path.is_file() else None


def adapt_once(shared: Path | None, model, run, is_main: bool = True) -> dict:
    """The label-free stage, ``run()``, or where ``shared`` already holds its result, that result loaded.

    Cross-fitting (``dev.folds``) trains several models of one run from the same start on the same
    pseudo-query rows with the same seed: the stage reads no label, so its outcome is the same for
    every fold, and the first fold's weights serve the others instead of k runs of it."""
    import torch

    if shared is not None and Path(shared).is_file():
        saved = torch.load(shared, weights_only=True)
        model.load_state_dict(saved["state"])
        log.info("adaptation: the label-free stage's weights reused from %s", shared)
        return {**saved["summary"], "reused_from": str(shared)}
    summary = run()
    if shared is not None and is_main:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        with atomic_path(Path(shared)) as tmp:
            torch.save({"summary": summary, "state": state}, tmp)
    return summary


def replay_rows(cfg: DictConfig, rows, adapt_mined, fmt: str):
    """``adapt.replay``: the labelled stage's ``rows`` with a seeded share of the pseudo-query rows
    mixed in (share x the labelled rows, at most every pseudo-query row once), in the labelled
    loss's format.

    Why: the labelled steps can end below where the label-free stage left the model (Cranfield's
    dev at seed 44: 0.3698 after adaptation, 0.3607 at the best labelled checkpoint), the
    forgetting that rehearsal of the earlier task's data counters. ``datasets`` has no
    "mix in a share" helper for map-style data (``interleave_datasets`` stops at the shorter one or
    oversamples it), so a seeded sample is concatenated; the trainer shuffles every epoch.
    """
    import datasets

    share = cfg.adapt.get("replay") or 0  # a share from 0 to 1, and not with loss.residual: validate_config
    if not share or adapt_mined is None:
        return rows
    extra = adapt_mined.to_dataset(fmt, grade_weights=bool(cfg.loss.get("grade_weights")))
    if sorted(extra.column_names) != sorted(rows.column_names):
        raise ConfigError(f"adapt.replay: the pseudo-query rows in format {fmt!r} have columns {extra.column_names}, "
                          f"the labelled rows {rows.column_names}; set adapt.replay=0 for this loss")
    n = min(len(extra), round(float(share) * len(rows)))
    extra = extra.shuffle(seed=int(cfg.train.seed)).select(range(n)).cast(rows.features)
    log.info("adapt.replay=%s: %d pseudo-query rows mixed into %d labelled rows", share, n, len(rows))
    return datasets.concatenate_datasets([rows, extra])
