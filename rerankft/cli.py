"""What the thin Hydra scripts share: run-directory lookup and user-error handling."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import traceback
from typing import Callable

from rerankft.core.errors import RerankftError
from rerankft.core.runtime import install_interrupt_handler

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


def override_value(argv: list[str], key: str) -> str | None:
    """The value of ``key=value`` (or ``+key=value``) among the command-line overrides; the last one wins, as in Hydra."""
    return next((a.split("=", 1)[1] for a in reversed(argv[1:]) if "=" in a and a.split("=", 1)[0].lstrip("+") == key), None)


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
        resume = override_value(argv, "train.resume")
        if resume and resume.lower() not in ("null", "none", ""):
            extra.append(f"hydra.run.dir={resume}")
        elif int(environ.get("WORLD_SIZE", "1")) > 1:
            target = environ.get("RERANKFT_RUN_DIR") or "outputs/${task}/" + _launcher_start_stamp()
            extra.append(f"hydra.run.dir={target}")
    if int(environ.get("RANK", "0")) != 0:
        extra += ["hydra.output_subdir=null", "hydra.job_logging.root.handlers=[console]"]
    return extra


def _check_resume(argv: list[str]) -> None:
    """``train.resume=<dir>``: refuse a missing directory (it would be created and trained from scratch)
    and leave a finished run untouched (it would be trained further and its metrics rewritten)."""
    resume = override_value(argv, "train.resume")
    if not resume or resume.lower() in ("null", "none"):
        return
    path = os.path.expanduser(resume)
    if not os.path.isdir(path):
        print(f"error: train.resume={resume}: no such run directory (give the directory an interrupted "
              "`python scripts/train.py` printed)", file=sys.stderr)
        sys.exit(2)
    if os.path.isfile(os.path.join(path, "metrics.json")):
        print(f"train.resume={resume}: this run finished (its metrics.json is written); nothing to resume, "
              "nothing changed. Start a new run to train again.", file=sys.stderr)
        sys.exit(0)


def prepare_argv(argv: list[str]) -> list[str]:
    """``argv`` plus :func:`shared_run_dir_overrides`; called by the scripts before Hydra parses it.

    An explicit ``hydra.run.dir`` that cannot be created stops here with one line and exit 2:
    Hydra would create it before any rerankft code runs, with a traceback.
    """
    _check_resume(argv)
    argv = list(argv) + shared_run_dir_overrides(argv)
    run_dir = override_value(argv, "hydra.run.dir")
    if run_dir and "${" not in run_dir:
        try:
            os.makedirs(run_dir, exist_ok=True)
        except OSError as e:
            print(f"error: hydra.run.dir={run_dir} cannot be created: {e.strerror or e}", file=sys.stderr)
            sys.exit(2)
    return argv


_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR}


def _run_dir_or_none() -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.output_dir
    except Exception:  # not under Hydra (tests, the Python API)
        return None


def run_main(job: Callable, cfg):
    """Run ``job(cfg)``; a user error prints one clear line and exits 2 instead of a traceback.

    Also one line for: a folder that cannot be written (permissions, read-only, disk full:
    exit 2) and Ctrl-C (exit 130, with the command that resumes a train run).
    ``debug=true`` adds the traceback but keeps the exit code.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    install_interrupt_handler()
    debug = bool(cfg.get("debug")) or os.environ.get("RERANKFT_DEBUG") == "1"
    out = _run_dir_or_none()
    before = set(os.listdir(out)) if out and os.path.isdir(out) else None
    try:
        return job(cfg)
    except RerankftError as e:
        _remove_new_files(out, before)
        _fail(f"error: {e}", e, debug, 2)
    except OSError as e:
        if e.errno not in _WRITE_ERRNOS:
            raise
        _fail(f"error: cannot write {e.filename or 'a file'}: {e.strerror} (check the folder's permissions and free space; "
              "hydra.run.dir=<folder> and RERANKFT_CACHE=<folder> choose other places)", e, debug, 2)
    except KeyboardInterrupt as e:
        hint = f"; resume with: python scripts/train.py train.resume={out}" if out and cfg.get("task") == "train" else ""
        _fail(f"interrupted{hint}", e, debug, 130)


def _remove_new_files(out: str | None, before: set[str] | None) -> None:
    """A run stopped by a user error keeps no output: the top-level files it wrote (config.yaml,
    run_info.json, mining.json, ...) go; Hydra's log and folders (checkpoints a resume needs) stay."""
    if not out or before is None or not os.path.isdir(out):
        return
    for name in set(os.listdir(out)) - before:
        path = os.path.join(out, name)
        if os.path.isfile(path) and not name.endswith(".log") and not name.startswith("."):
            with contextlib.suppress(OSError):
                os.remove(path)


def _log_to_files(message: str) -> None:
    """The error into the run's log file only: the console gets it once, from _fail's print."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers + log.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _fail(message: str, exc: BaseException, debug: bool, code: int):
    _log_to_files(message)
    if debug:
        traceback.print_exception(exc)
    tip = " (debug=true shows the traceback)" if code == 2 and not debug else ""
    print(f"{message}{tip}", file=sys.stderr)
    sys.exit(code)
