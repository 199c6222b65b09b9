"""Several processes, one result: split work over the ranks of a launch and gather it back.

Under ``accelerate launch`` (or ``torchrun``) every rank runs the same recipe. Work that is the
same per item and independent across items (scoring each query's candidates, encoding each
passage) is split into contiguous shares, one per rank; each rank does its share on its own
device and the shares are gathered on every rank, in the original order, so what follows
(metrics, fusion fits, the report) sees exactly what one process would have computed.

accelerate's ``PartialState`` sets up the process group (NCCL on GPUs, gloo on CPUs) and
``gather_object`` moves the pickled shares; this module only decides the shares and keeps the
order. Outside a launch (WORLD_SIZE unset or 1) every function is a pass-through: no torch, no
accelerate imported.
"""

from __future__ import annotations

import os
from typing import Any, Sequence, TypeVar

from rerankft.core.errors import ConfigError

T = TypeVar("T")


def world_size() -> int:
    """Processes in this launch (1 when not launched by accelerate/torchrun)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _state():
    """accelerate's process state (initialises the process group once; gloo when there is no GPU)."""
    import torch
    from accelerate import PartialState

    if torch.cuda.is_available():
        # accelerate puts local rank r on cuda:r; with more processes than GPUs the extra ranks would
        # die in CUDA ("invalid device ordinal") after the others have started. Say it in one line.
        local, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= gpus:
            per_machine = os.environ.get("LOCAL_WORLD_SIZE", str(local + 1))
            raise ConfigError(f"this launch starts {per_machine} processes per machine but the machine has {gpus} GPU(s): "
                              f"launch one process per GPU (--num_processes {gpus})")
    return PartialState(cpu=not torch.cuda.is_available())


def device() -> str | None:
    """This rank's device under a launch (cuda:<local rank> on a GPU node, cpu otherwise); None outside one."""
    if world_size() == 1:
        return None
    return str(_state().device)


def share(items: Sequence[T]) -> list[T]:
    """This rank's contiguous share of ``items`` (sizes differ by at most one; rank 0 gets the first)."""
    n, size, r = len(items), world_size(), rank()
    if size == 1:
        return list(items)
    base, extra = divmod(n, size)
    start = r * base + min(r, extra)
    return list(items[start : start + base + (1 if r < extra else 0)])


def gather(part: Any) -> list[Any]:
    """Every rank's ``part``, in rank order, on every rank (``[part]`` outside a launch)."""
    if world_size() == 1:
        return [part]
    from accelerate.utils import gather_object

    _state()
    return gather_object([part])


def gather_dicts(part: dict) -> dict:
    """The union of every rank's dict (shares have disjoint keys), keys in rank order."""
    out: dict = {}
    for p in gather(part):
        out.update(p)
    return out


def sum_counts(counts: dict) -> dict:
    """Numeric values summed over ranks; other values (settings) as rank 0 has them."""
    parts = gather(counts)
    out = dict(parts[0])
    for p in parts[1:]:
        for k, v in p.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(out.get(k), (int, float)):
                out[k] = out[k] + v
    return out


def barrier() -> None:
    if world_size() > 1:
        _state().wait_for_everyone()
