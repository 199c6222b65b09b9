"""Resuming a killed training run: which checkpoints are complete, and what a killed run left behind."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig

from rerankft.core.errors import ConfigError

log = logging.getLogger("rerankft")


def complete_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Checkpoints that finished writing, oldest first.

    The trainer writes ``trainer_state.json`` last, so a folder without it was cut short
    by a kill and must not be resumed from.
    """
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.glob("checkpoint-*"):
        if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file():
            found.append(p)
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def prepare_resume(cfg: DictConfig, out_dir: Path, is_main: bool) -> str | None:
    """The checkpoint to resume from (or None), after clearing what a killed run left half-written."""
    resume = cfg.train.get("resume")
    if not resume:
        return None
    src = Path(resume).expanduser()
    if not src.is_dir():
        raise ConfigError(f"train.resume={resume!r}: no such run directory")
    ckpt_dir = src / "checkpoints"
    done = complete_checkpoints(ckpt_dir)
    if is_main:
        complete = set(done)
        for p in ckpt_dir.glob("checkpoint-*") if ckpt_dir.is_dir() else []:
            if p not in complete:
                log.warning("removing incomplete checkpoint %s", p)
                shutil.rmtree(p, ignore_errors=True)
        for p in out_dir.glob(".model.*"):  # atomic_dir temporaries of a killed final save
            shutil.rmtree(p, ignore_errors=True)
    if not done:
        log.warning("train.resume=%s has no complete checkpoint; training starts from the beginning", resume)
        return None
    log.info("resuming from %s", done[-1])
    return str(done[-1])

