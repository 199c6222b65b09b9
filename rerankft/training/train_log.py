"""train_log.jsonl: one line per logged training window and per dev evaluation, written by rank 0."""

from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback

from rerankft.core.io import append_jsonl
from rerankft.core.runtime import raise_if_interrupted
from rerankft.training.dev_eval import DEV_METRIC_KEY

BEST_METRIC = f"eval_{DEV_METRIC_KEY}"  # the trainer prefixes evaluator keys with "eval_"


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
