"""What this CPU computes natively: read by the precision rule (``rerank.precision=auto`` and
``train.precision=auto``, both through ``scoring.loading.resolve_precision``) and by the
OpenVINO backends, so all decide bf16 (and whether int8 pays) the same way (its own module: both import it)."""

from __future__ import annotations

import logging
import time

from rerankft.core import distributed

log = logging.getLogger("rerankft")

# bf16 autocast is chosen by ``auto`` only where a matmul of the encoder's shape runs at least this
# much faster in bf16 than in fp32: 2.2x pairs/s on a 2-core AMD EPYC with AVX512-BF16; about 0.7x
# (slower) on a 2-core Intel Xeon that reports AVX512-BF16 too; emulated bf16 on AVX2-only CPUs is slower still.
BF16_MIN_SPEEDUP = 1.3
_bf16_pays: bool | None = None  # measured once per process


def _cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo; empty where there is none (not Linux: no cheap way to ask)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return set()


def native_bf16_cpu() -> bool:
    """Does this CPU compute bf16 natively (AVX512-BF16 or AMX)? Then bf16 autocast halves the
    matmul work (measured 2.1-2.3x pairs/s on a 2-core AVX512-BF16 machine); without it oneDNN
    emulates bf16 and it is slower than fp32."""
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def bf16_matmul_speedup(rows: int = 1024, width: int = 384, hidden: int = 1536, repeats: int = 5) -> float:
    """How many times faster one matmul of MiniLM's feed-forward shape runs under bf16 autocast than in
    fp32 on this CPU (best of ``repeats`` each, taking turns so noise hits both alike; about 0.2 s)."""
    import torch

    x, w = torch.randn(rows, width), torch.randn(hidden, width)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    with torch.inference_mode():
        for _ in range(repeats + 1):  # the first round warms both kernels up
            for name in ("fp32", "bf16"):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
                    t0 = time.perf_counter()
                    torch.nn.functional.linear(x, w)
                    best[name] = min(best[name], time.perf_counter() - t0)
    return best["fp32"] / best["bf16"]


def bf16_pays() -> bool:
    """Is bf16 autocast faster than fp32 on this CPU? The flags are necessary but not enough: a CPU
    can report AVX512-BF16 and still run bf16 matmuls slower than fp32 (on a 2-core Intel Xeon a bf16
    training step took 1.01x fp32's time and scoring 1.55x). So where the flags say native,
    one matmul is timed both ways (:func:`bf16_matmul_speedup`) and bf16 must win by
    ``BF16_MIN_SPEEDUP``; the answer is kept for the process, so every stage decides alike. Under a
    launch only rank 0 times and every rank takes its answer: ranks timing on their own could fall on
    either side of the threshold and train one model in two precisions."""
    global _bf16_pays
    if _bf16_pays is None:
        speedup = bf16_matmul_speedup() if distributed.rank() == 0 and native_bf16_cpu() else None
        speedup = distributed.gather(speedup)[0]
        _bf16_pays = speedup is not None and speedup >= BF16_MIN_SPEEDUP
        if speedup is not None:
            log.info("precision auto: a bf16 matmul runs at %.2fx fp32's speed on this CPU, so %s", speedup,
                     "bf16" if _bf16_pays else f"fp32 (bf16 needs {BF16_MIN_SPEEDUP}x)")
    return _bf16_pays


def int8_dot_cpu() -> bool:
    """Does this CPU have int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX)? OpenVINO's
    int8 kernels need them to pay: on a 2-core AVX2-only CPU ``openvino-int8`` scored at 0.95x the
    pairs/s of fp32 torch, while ONNX Runtime's dynamic int8 (AVX2 kernels) still ran at 1.66x."""
    return bool(_cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})
