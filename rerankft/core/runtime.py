"""Where this process writes: Hydra's run directory, and whether this is the main process of a launch.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import threading
from pathlib import Path

from rerankft.core import distributed
from rerankft.core.errors import ConfigError

log = logging.getLogger("rerankft")


def run_dir(lock: bool = True) -> Path:
    """The run directory Hydra made for this job (honours hydra.run.dir / sweep dirs), locked for this run."""
    from hydra.core.hydra_config import HydraConfig

    out = Path(HydraConfig.get().runtime.output_dir)
    if lock and is_main_process():  # the ranks of one launch share rank 0's lock
        lock_run_dir(out)
    return out


def folds_dir(run: str | os.PathLike) -> Path:
    """Where a cross-fitted run (``dev.folds``) keeps what its folds share (the label-free stage's weights) and the folds."""
    return Path(run) / "folds"


def fold_dir(run: str | os.PathLike, i: int) -> Path:
    """Where a cross-fitted run keeps fold ``i``'s training: its model is ``<fold_dir>/model``."""
    return folds_dir(run) / f"fold{i}"


LOCK_NAME = ".rerankft.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def lock_run_dir(path: Path) -> Path:
    """One run per directory: a lock file with our pid and host, removed when this process exits.

    A second process gets a ConfigError naming the holder; a lock left by a dead process on this
    host is taken over with a warning (a lock from another host is trusted: we cannot check it).
    """
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                holder = {}
            if holder.get("pid") == me["pid"] and holder.get("host") == me["host"]:
                return lock  # this process already holds it (a recipe called twice)
            if holder.get("host") == me["host"] and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
                log.warning("taking over the lock of %s left by process %d, which is no longer running", path, holder["pid"])
                lock.unlink(missing_ok=True)
                continue
            raise ConfigError(f"run directory {path} is in use by process {holder.get('pid', '?')} on "
                              f"{holder.get('host', '?')} ({lock}); give this run its own hydra.run.dir") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        atexit.register(lambda: lock.unlink(missing_ok=True))
        return lock
    raise ConfigError(f"could not lock run directory {path} ({lock})")


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a multi-process launch (accelerate/torchrun set RANK)."""
    return distributed.rank() == 0


# Ctrl-C. Python raises KeyboardInterrupt in whatever Python code runs when the signal is handled;
# if that is a __del__ method or a weakref/GC callback (tqdm bars, temporary tensors' owners, ...),
# CPython prints "Exception ignored in ..." and the interrupt is LOST: training went on. So the
# handler also records the interrupt, and the long loops (optimizer steps, dev evaluations, scoring
# batches) call raise_if_interrupted() from ordinary frames, where the KeyboardInterrupt propagates.
_INTERRUPTED = threading.Event()


def _on_sigint(signum, frame):
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def install_interrupt_handler() -> None:
    """Record Ctrl-C as well as raising it (main thread only; elsewhere a no-op).

    A SIGINT blocked in the signal mask this process inherited (a parent that spawned it while
    blocking signals) would never arrive: unblock it. An inherited SIG_IGN (a background job of a
    script) is respected, as Python itself does.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even when the first one was swallowed."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt
