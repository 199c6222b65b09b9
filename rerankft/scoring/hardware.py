"""What this CPU computes natively: read by the precision rule (``rerank.precision=auto`` and
``train.precision=auto``, both through ``scoring.loading.resolve_precision``) and by the
``openvino-bf16`` backend, so all decide bf16 the same way (its own module: both import it)."""

from __future__ import annotations


def native_bf16_cpu() -> bool:
    """Does this CPU compute bf16 natively (AVX512-BF16 or AMX)? Then bf16 autocast halves the
    matmul work (measured 2.1-2.3x pairs/s on a 2-core AVX512-BF16 machine); without it oneDNN
    emulates bf16 and it is slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:  # not Linux: no cheap way to ask; stay fp32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
