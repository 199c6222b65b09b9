"""What train_done.json says about a run: its dev selection and its training."""

from __future__ import annotations

from pathlib import Path

from rerankft.training.dev_eval import DEV_METRIC_KEY
from rerankft.training.train_log import BEST_METRIC


def dev_summary_of(state, dev_qrels, top_k: int, base_dev: float | None, has_dev: bool) -> dict:
    """The dev selection: every evaluation, the best step and checkpoint, the untrained score."""
    history = [
        {"step": h["step"], "epoch": h.get("epoch"), DEV_METRIC_KEY: h[BEST_METRIC]}
        for h in state.log_history
        if BEST_METRIC in h
    ]
    best_step = getattr(state, "best_global_step", None)
    if best_step is None and state.best_model_checkpoint:
        best_step = int(Path(state.best_model_checkpoint).name.split("-")[-1])
    best_dev = float(state.best_metric) if state.best_metric is not None else float("nan")
    return {
        "metric": "nDCG@10",
        "queries": len(dev_qrels),
        "top_k": top_k,
        "base_dev": base_dev,
        "best_dev": best_dev if has_dev else None,
        "best_step": best_step,
        "best_checkpoint": state.best_model_checkpoint,
        "history": history,
    }


def train_summary_of(state, output, seconds: float | None, resume_from: str | None, start: dict) -> dict:
    """What train_done.json says about training. A resumed run's figures span the whole run: its seconds
    include the earlier part (:class:`ProgressCallback`), its mean loss comes from the carried log history."""
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    return {
        "global_step": state.global_step,
        "epochs": state.epoch,
        "train_loss_mean": output.training_loss if resume_from is None else mean_logged_loss(state.log_history),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "seconds": seconds,  # wall clock of the labelled stage (evaluations included), every part of a resumed run
        "resumed_from": resume_from,
        **({"bce_prior": start["bce_prior"]} if "bce_prior" in start else {}),
    }


def mean_logged_loss(log_history: list[dict]) -> float | None:
    """Step-weighted mean of the logged training losses (each is the mean over its logging window). The
    trainer's own training_loss covers only the steps of the current call, so a resumed run uses this:
    the trainer state carries the log history across the resume."""
    total = steps = 0.0
    last = 0
    for h in log_history:
        if "loss" in h and "step" in h and h["step"] > last:
            total += h["loss"] * (h["step"] - last)
            steps += h["step"] - last
            last = h["step"]
    return total / steps if steps else None
