"""What the thin Hydra scripts share: run-directory lookup and user-error handling."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable

from rerankft.errors import RerankftError

log = logging.getLogger("rerankft")


def run_dir() -> Path:
    """The run directory Hydra made for this job (honours hydra.run.dir / sweep dirs)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def run_main(job: Callable, cfg):
    """Run ``job(cfg)``; a user error prints one clear line and exits 2 instead of a traceback."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    debug = bool(cfg.get("debug")) or os.environ.get("RERANKFT_DEBUG") == "1"
    try:
        return job(cfg)
    except RerankftError as e:
        if debug:
            raise
        log.error("%s", e)
        print(f"error: {e}\n(run with debug=true or RERANKFT_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(2)
