"""What the thin Hydra scripts share: run-directory lookup and user-error handling."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from rerankft.core.errors import RerankftError

log = logging.getLogger("rerankft")


def _launcher_start_stamp() -> str:
    """The start time of the process that launched us (accelerate launch / torchrun), as Hydra's run-dir stamp.

    Every rank of one launch has the same parent, so every rank computes the same stamp,
    before any process group exists to broadcast one.
    """
    import time

    import psutil

    started = psutil.Process(os.getppid()).create_time()
    return time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(started))


def shared_run_dir_overrides(argv: list[str], environ=os.environ) -> list[str]:
    """Extra Hydra overrides so that all processes of one job write into one run directory.

    * ``train.resume=<run dir>``: continue in that directory (``hydra.run.dir=<run dir>``),
      so checkpoints, logs and the final model of an interrupted run end up in one place.
    * Multi-process launch (WORLD_SIZE > 1): Hydra resolves ``${now:...}`` in each process,
      so ranks started a second apart would pick different directories. We pin
      ``hydra.run.dir`` to ``$RERANKFT_RUN_DIR`` if set (needed for multi-node jobs), else
      to ``outputs/${task}/<launcher start time>`` (the layout of configs/hydra/default.yaml).
      Non-main ranks also skip Hydra's ``.hydra/`` folder and log file: only rank 0 writes.

    An explicit ``hydra.run.dir=...`` always wins; multirun (``-m``) is left alone.
    """
    args = argv[1:]
    if any(a in ("-m", "--multirun") for a in args) or any(a.startswith("--") for a in args):
        return []
    keys = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a}
    extra: list[str] = []
    if "hydra.run.dir" not in keys:
        resume = next((a.split("=", 1)[1] for a in args if a.split("=", 1)[0].lstrip("+") == "train.resume"), None)
        if resume and resume.lower() not in ("null", "none", ""):
            extra.append(f"hydra.run.dir={resume}")
        elif int(environ.get("WORLD_SIZE", "1")) > 1:
            target = environ.get("RERANKFT_RUN_DIR") or "outputs/${task}/" + _launcher_start_stamp()
            extra.append(f"hydra.run.dir={target}")
    if int(environ.get("RANK", "0")) != 0:
        extra += ["hydra.output_subdir=null", "hydra.job_logging.root.handlers=[console]"]
    return extra


def prepare_argv(argv: list[str]) -> list[str]:
    """``argv`` plus :func:`shared_run_dir_overrides`; called by the scripts before Hydra parses it."""
    return list(argv) + shared_run_dir_overrides(argv)


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
