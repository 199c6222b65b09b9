"""train_log.jsonl: one line per logged training window and per dev evaluation, written by rank 0."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from transformers import TrainerCallback

from rerankft.core.io import append_jsonl, write_json
from rerankft.core.runtime import raise_if_interrupted
from rerankft.training.dev_eval import DEV_METRIC_KEY

BEST_METRIC = f"eval_{DEV_METRIC_KEY}"  # the trainer prefixes evaluator keys with "eval_"
PROGRESS_FILE = "rerankft_progress.json"  # in each checkpoint: what a resumed run carries forward

log = logging.getLogger("rerankft")


class JsonlLogCallback(TrainerCallback):
    """One ``train_log.jsonl`` line per logging step (loss, lr, epoch, pairs/s) and per dev evaluation.

    pairs/s counts (query, passage) forward passes over all processes and only the time
    spent inside optimizer steps, so dev evaluations do not dilute it.
    """

    def __init__(self, path: Path, pairs_per_step: float):
        self.path = path
        self.pairs_per_step = pairs_per_step
        self._step_t0 = 0.0
        self._train_seconds = 0.0
        self._last = (0, 0.0)  # (global step, train seconds) at the previous loss line

    def on_train_begin(self, args, state, control, **kwargs):
        self._last = (state.global_step, self._train_seconds)  # a resumed run starts mid-way

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._train_seconds += time.perf_counter() - self._step_t0
        if state.global_step >= state.max_steps:
            control.should_log = True  # the loss of the last (partial) logging window, not just the run mean

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        if BEST_METRIC in logs:
            # Before trainer.train() the state is fresh (max_steps 0): that evaluation is the untrained model.
            row.update(event="eval", untrained=state.max_steps == 0)
            row.update({DEV_METRIC_KEY: logs[BEST_METRIC], "eval_seconds": logs.get("eval_runtime")})
        elif "loss" in logs:
            steps, secs = state.global_step - self._last[0], self._train_seconds - self._last[1]
            row.update(event="train", loss=logs["loss"], learning_rate=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"))
            row["pairs_per_s"] = round(steps * self.pairs_per_step / secs, 2) if secs > 0 and steps > 0 else None
            self._last = (state.global_step, self._train_seconds)
        else:
            row.update(event="summary", **logs)
        append_jsonl(self.path, row)


class InterruptCallback(TrainerCallback):
    """Stop at the next step or evaluation after Ctrl-C, even if the first KeyboardInterrupt was swallowed
    (see :func:`rerankft.core.runtime.raise_if_interrupted`); cli.run_main then says how to resume."""

    def on_step_begin(self, args, state, control, **kwargs):
        raise_if_interrupted()

    def on_step_end(self, args, state, control, **kwargs):
        raise_if_interrupted()

    def on_evaluate(self, args, state, control, **kwargs):
        raise_if_interrupted()


class ProgressCallback(TrainerCallback):
    """Writes into each checkpoint what a resumed run must carry forward and the trainer state does not
    hold: the training seconds so far, earlier parts of a resumed run included, and ``carried`` (the
    label-free stage's summary, which a resume does not run again). Without it a resumed run's
    train_done.json would count only the resumed part (a dev-only run continued to its test benchmark: 2 s).
    """

    def __init__(self, seconds_before: float | None = 0.0, carried: dict | None = None):
        self.seconds_before = seconds_before  # None: a resumed run whose earlier time went unrecorded
        self.carried = dict(carried or {})
        self._t0 = time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def seconds(self) -> float | None:
        return None if self.seconds_before is None else round(self.seconds_before + time.perf_counter() - self._t0, 1)

    def on_save(self, args, state, control, **kwargs):
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"  # the trainer's own folder name
        if state.is_world_process_zero and ckpt.is_dir():
            write_json(ckpt / PROGRESS_FILE, {"train_seconds": self.seconds(), **self.carried})


def earlier_progress(resume_from: str | None) -> ProgressCallback:
    """The progress callback of a run: fresh, or carrying what the checkpoint ``resume_from`` recorded.

    A checkpoint written before the progress file existed falls back to its run's train_done.json
    when that run had finished at this very checkpoint (a dev-only run going on to its test benchmark);
    otherwise the earlier time is unknown and the summary's seconds say so (None), not a part of it.
    """
    if resume_from is None:
        return ProgressCallback()
    ckpt = Path(resume_from)
    try:
        saved = json.loads((ckpt / PROGRESS_FILE).read_text(encoding="utf-8"))
        return ProgressCallback(saved.pop("train_seconds"), saved)
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    try:
        train = json.loads((ckpt.parents[1] / "train_done.json").read_text(encoding="utf-8"))["train"]
        if f"checkpoint-{train['global_step']}" == ckpt.name and isinstance(train.get("seconds"), (int, float)):
            return ProgressCallback(float(train["seconds"]), {"adapt": train["adapt"]} if "adapt" in train else {})
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        pass
    log.warning("%s records no training time: the resumed run's train.seconds will be unknown (null)", ckpt)
    return ProgressCallback(None)


class StopAfterSteps(TrainerCallback):
    """Ends training at ``stop_step`` although the learning-rate schedule runs longer (train.schedule_epochs):
    that step is logged, evaluated and saved like a last step, so it competes in dev selection."""

    def __init__(self, stop_step: int):
        self.stop_step = stop_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.stop_step:
            control.should_training_stop = True
            control.should_log = True
            if args.eval_strategy != "no":
                control.should_evaluate = True
            control.should_save = True
        return control
