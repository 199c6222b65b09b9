"""What this CPU computes natively: read by the precision rule (``rerank.precision=auto`` and
``train.precision=auto``, both through ``scoring.loading.resolve_precision``) and by the
OpenVINO backends, so all decide bf16 (and whether int8 pays) the same way (its own module: both import it)."""

from __future__ import annotations


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


def int8_dot_cpu() -> bool:
    """Does this CPU have int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX)? OpenVINO's
    int8 kernels need them to pay: on a 2-core AVX2-only CPU ``openvino-int8`` scored at 0.95x the
    pairs/s of fp32 torch, while ONNX Runtime's dynamic int8 (AVX2 kernels) still ran at 1.66x."""
    return bool(_cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})
