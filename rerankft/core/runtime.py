"""Where this process writes: Hydra's run directory, and whether this is the main process of a launch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("rerankft")


def run_dir() -> Path:
    """The run directory Hydra made for this job (honours hydra.run.dir / sweep dirs)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a multi-process launch (accelerate/torchrun set RANK)."""
    return int(os.environ.get("RANK", "0")) == 0
