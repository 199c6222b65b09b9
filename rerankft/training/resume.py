"""Resuming a killed training run: which checkpoints are complete, and what a killed run left behind."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

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



# Keys a resumed run may change: where to resume from and how to report, not what is trained.
# dev.only: a dev-only ablation that looks worth it goes on to its test benchmark with
# train.resume=<run> dev.only=false, without training again (the finished checkpoints are resumed).
RESUME_MAY_CHANGE = ("train.resume", "train.resume_force", "debug", "cache_dir", "hub.token", "dev.only")


def _flat(tree, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


def check_resume_matches(cfg: DictConfig, data_fingerprint: str) -> None:
    """Refuse to continue a run under other settings or other data (``train.resume_force=true`` overrides).

    Compares the resolved config with the run's ``config.yaml`` and the data fingerprint with its
    ``run_info.json``; the error lists every differing key (old -> new) on one line. Called before
    this run writes anything, so a refused resume leaves the run directory as it was.
    """
    resume = cfg.train.get("resume")
    if not resume or cfg.train.get("resume_force"):
        return
    src = Path(resume).expanduser()
    saved = src / "config.yaml"
    if not saved.is_file():  # killed before it wrote its config: nothing to compare against
        log.warning("train.resume=%s has no config.yaml; cannot check that the settings match", resume)
        return
    old = _flat(OmegaConf.to_container(OmegaConf.load(saved)))
    new = _flat(OmegaConf.to_container(cfg, resolve=True))
    diffs = [f"{k}: {old.get(k, '<unset>')} -> {new.get(k, '<unset>')}" for k in sorted(old.keys() | new.keys())
             if not k.startswith(RESUME_MAY_CHANGE) and old.get(k, "<unset>") != new.get(k, "<unset>")]
    try:
        old_fp = json.loads((src / "run_info.json").read_text(encoding="utf-8"))["data"]["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        old_fp = None
    if old_fp is not None and old_fp != data_fingerprint:
        diffs.append(f"data fingerprint: {old_fp} -> {data_fingerprint}")
    if diffs:
        raise ConfigError(f"train.resume={resume}: the run was started with other settings or data ({'; '.join(diffs)}); "
                          "resume with the run's own settings, or add train.resume_force=true to continue anyway")
