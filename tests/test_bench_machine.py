"""benchmarks/machine.py: the FLOPs formula by hand, the peak from canned lscpu text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "machine.py"
_spec = importlib.util.spec_from_file_location("bench_machine", _PATH)
assert _spec is not None and _spec.loader is not None
machine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(machine)

ZEN4_VM = """Architecture:                            x86_64
Vendor ID:                               AuthenticAMD
Model name:                              AMD EPYC
CPU family:                              25
Thread(s) per core:                      1
Core(s) per socket:                      2
Socket(s):                               1
BogoMIPS:                                5192.30
Flags:                                   fpu sse sse2 fma avx avx2 avx512f avx512bw avx512_bf16 avx512_vnni
"""
XEON = """Vendor ID:                GenuineIntel
Model name:               Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz
CPU family:               6
Thread(s) per core:       2
Core(s) per socket:       8
Socket(s):                2
CPU max MHz:              3500.0000
CPU MHz:                  2400.000
Flags:                    fpu sse sse2 fma avx avx2 avx512f avx512dq
"""
HASWELL = """Vendor ID:  GenuineIntel
Model name: Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz
Core(s) per socket: 4
Socket(s): 1
CPU MHz: 3400.000
Flags: fpu sse sse2 fma avx avx2
"""


def test_bert_flops_per_token_by_hand() -> None:
    tiny = {"hidden_size": 2, "intermediate_size": 4, "num_hidden_layers": 1}
    # dense: 2 * (4*2*2 + 2*2*4) = 64; attention: 2 * 2 * 3 * 2 = 24
    assert machine.bert_flops_per_token(tiny, 3) == 88
    minilm = {"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}
    # Megatron: (24 s h^2 + 4 s^2 h) per layer and sequence, / s per token
    assert machine.bert_flops_per_token(minilm, 256) == 6 * (24 * 384**2 + 4 * 256 * 384) == 23_592_960
    assert machine.encoder_gflop(tiny, [3, 3]) == pytest.approx(2 * 3 * 88 / 1e9)


def test_bert_flops_accepts_an_hf_config() -> None:
    import transformers

    config = transformers.BertConfig(hidden_size=2, intermediate_size=4, num_hidden_layers=1, num_attention_heads=1)
    assert machine.bert_flops_per_token(config, 3) == 88


def test_peak_of_a_zen4_vm_without_mhz_in_lscpu() -> None:
    peak = machine.peak_gflops(2, ZEN4_VM, cpuinfo_text="processor : 0\ncpu MHz\t\t: 2596.150\n")
    assert peak["model"] == "AMD EPYC" and peak["mhz"] == 2596.15 and "cpuinfo" in peak["mhz_source"]
    shape = (peak["cores"], peak["fma_units"], peak["fp32_lanes_per_unit"], peak["fp32_flops_per_cycle"])
    assert shape == (2, 2, 8, 32)  # Zen 4: AVX-512 on two 256-bit FMA units
    assert peak["fp32"] == pytest.approx(2 * 32 * 2.59615)
    assert peak["bf16"] == pytest.approx(2 * peak["fp32"])
    assert machine.peak_gflops(8, ZEN4_VM, cpuinfo_text="cpu MHz : 2596.150")["cores"] == 2  # capped at cores


def test_peak_of_an_intel_server_and_an_avx2_desktop() -> None:
    xeon = machine.peak_gflops(4, XEON)
    assert xeon["mhz"] == 3500 and xeon["mhz_source"] == "lscpu CPU max MHz"
    assert xeon["fp32"] == pytest.approx(4 * 64 * 3.5) and xeon["bf16"] is None
    assert machine.peak_gflops(64, XEON)["cores"] == 16
    desktop = machine.peak_gflops(4, HASWELL)
    assert desktop["fp32_lanes_per_unit"] == 8 and desktop["fp32"] == pytest.approx(4 * 32 * 3.4)
    unknown = machine.peak_gflops(1, "", cpuinfo_text="")
    assert unknown["fp32"] is None and unknown["bf16"] is None


def test_parse_lscpu_and_achieved() -> None:
    info = machine.parse_lscpu("Model name:  Foo: Bar CPU\nFlags: a b\n")
    assert info == {"Model name": "Foo: Bar CPU", "Flags": "a b"}
    assert machine.achieved(100.0, 2.0, 100.0) == {"gflop_per_s": 50.0, "share_of_peak": 0.5}
    assert machine.achieved(100.0, 2.0)["share_of_peak"] is None
