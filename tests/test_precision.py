"""precision=auto: bf16 where the hardware computes it natively and faster, fp32 elsewhere; bf16 training on a CPU is allowed."""

from __future__ import annotations

import pytest

from rerankft.scoring import hardware, loading


def test_auto_resolves_by_hardware(monkeypatch):
    monkeypatch.setattr(hardware, "bf16_pays", lambda: True)
    assert loading.resolve_precision("auto", "torch", "cpu") == "bf16"
    assert loading.resolve_precision("auto", "onnx-int8", "cpu") == "fp32"  # autocast is a torch thing
    monkeypatch.setattr(hardware, "bf16_pays", lambda: False)
    assert loading.resolve_precision("auto", "torch", "cpu") == "fp32"
    for explicit in ("fp32", "bf16", "fp16"):
        assert loading.resolve_precision(explicit, "torch", "cpu") == explicit


def test_native_bf16_and_int8_dot_read_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    real_open = builtins.open
    bf16, int8 = hardware.native_bf16_cpu, hardware.int8_dot_cpu
    cases = [(bf16, "fpu avx2 avx512f avx512_bf16", True), (bf16, "fpu avx2 amx_bf16 amx_tile", True),
             (bf16, "fpu avx2 avx512f avx512_vnni", False), (int8, "fpu avx2 avx512f avx512_vnni", True),
             (int8, "fpu avx2 avx_vnni", True), (int8, "fpu amx_int8 amx_tile", True), (int8, "fpu avx2 fma avx512_bf16", False)]
    for ask, flags, want in cases:
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda f, *a, info=info, **k: real_open(info if f == "/proc/cpuinfo" else f, *a, **k))
        assert ask() is want, (ask.__name__, flags)
        monkeypatch.setattr(builtins, "open", real_open)
    def no_proc(*args, **kwargs):
        raise OSError("no /proc/cpuinfo")

    monkeypatch.setattr(builtins, "open", no_proc)
    assert hardware.native_bf16_cpu() is False and hardware.int8_dot_cpu() is False  # no cpuinfo: assume neither


def test_bf16_pays_only_where_the_flags_say_native_and_a_timed_matmul_agrees(monkeypatch):
    timed = []

    def speedup(value):
        def measure():
            timed.append(value)
            return value
        return measure

    for native, measured, want in [(False, 2.0, False), (True, 2.0, True), (True, 1.1, False), (True, 0.7, False)]:
        monkeypatch.setattr(hardware, "_bf16_pays", None)
        monkeypatch.setattr(hardware, "native_bf16_cpu", lambda native=native: native)
        monkeypatch.setattr(hardware, "bf16_matmul_speedup", speedup(measured))
        timed.clear()
        assert hardware.bf16_pays() is want, (native, measured)
        assert hardware.bf16_pays() is want  # kept for the process: measured at most once
        assert timed == ([measured] if native else [])  # no native bf16: nothing is timed


def test_under_a_launch_every_rank_takes_rank_zeros_timing(monkeypatch):
    from rerankft.core import distributed

    sent = []

    def gather(part):  # a two-rank launch in which rank 0 measured 2.0x
        sent.append(part)
        return [part, None] if distributed.rank() == 0 else [2.0, part]

    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    monkeypatch.setattr(hardware, "bf16_matmul_speedup", lambda: 0.5)  # what this process measures
    monkeypatch.setattr(distributed, "gather", gather)
    for this_rank, want_sent, want in [("1", None, True), ("0", 0.5, False)]:
        monkeypatch.setenv("RANK", this_rank)
        monkeypatch.setattr(hardware, "_bf16_pays", None)
        sent.clear()
        assert hardware.bf16_pays() is want  # rank 0's timing decides on every rank
        assert sent == [want_sent]  # a rank other than 0 times nothing


def test_bf16_matmul_speedup_times_this_cpu():
    speedup = hardware.bf16_matmul_speedup(rows=64, width=32, hidden=64, repeats=2)
    assert 0 < speedup < float("inf")


def test_bad_precision_and_backend_combinations_name_the_key():
    from rerankft.core.errors import ConfigError

    with pytest.raises(ConfigError, match="rerank.precision='half'"):
        loading.check_engine_settings("torch", "half", 16384, None, 128)
    with pytest.raises(ConfigError, match="rerank.precision=bf16 needs rerank.backend=torch"):
        loading.check_engine_settings("onnx", "bf16", 16384, None, 128)
    loading.check_engine_settings("onnx", "auto", 16384, None, 128)  # auto on onnx is fp32: allowed


def test_reranker_auto_scores_close_to_fp32_and_reports_what_it_used(monkeypatch):
    import numpy as np

    from rerankft.scoring.reranker import Reranker

    pairs = [("my wifi does not work", "Wifi guide: reset the router and wait"), ("printer jam", "Battery care tips")]
    import torch

    monkeypatch.setattr(hardware, "bf16_pays", lambda: True)
    torch.manual_seed(0)  # the packaged base gets a fresh head: the same one for both
    auto = Reranker("packaged-minilm", precision="auto", max_length=48, device="cpu")
    assert auto.precision == "bf16" and auto.stats["precision"] == "bf16"
    torch.manual_seed(0)
    fp32 = Reranker("packaged-minilm", precision="fp32", max_length=48, device="cpu")
    assert np.allclose(auto.score(pairs), fp32.score(pairs), atol=0.05)


def test_bf16_training_on_a_cpu_builds_its_arguments(tmp_path):
    import torch

    from rerankft.training.trainer import training_arguments
    from tests.test_training import compose_cfg

    if torch.cuda.is_available():
        pytest.skip("CPU-only check")
    cfg = compose_cfg("train.precision=bf16")
    args = training_arguments(cfg, tmp_path, 16, False, None)  # transformers refuses bf16 on CPU without use_cpu
    assert args.bf16 and args.use_cpu
