"""The one precision rule, and both precision paths forced whatever this CPU has.

Machines of this project's kind differ: some have native bf16 (where "auto" picks it), some do not.
Each path is forced here, so the suite covers both on either machine; tests that compare exact
values pin fp32 elsewhere.
"""

from __future__ import annotations

import pytest
import torch

import nst.device
from nst.device import use_bf16
from nst.errors import OptionError
from nst.methods import make_stylizer

from .conftest import make_photo, make_style


@pytest.mark.parametrize("native", [True, False])
def test_the_precision_rule(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr(nst.device, "bf16_supported", lambda device: native)
    cpu = torch.device("cpu")
    assert use_bf16("auto", cpu) is native
    assert use_bf16("fp32", cpu) is False and use_bf16("bf16", cpu) is True
    with pytest.raises(OptionError, match="precision must be one of auto, fp32, bf16"):
        use_bf16("fp16", cpu)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_runs_on_both_paths(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    """precision="auto" as a user runs it: bf16 where "native", fp32 elsewhere; close to fp32 either way."""
    monkeypatch.setattr(nst.device, "bf16_supported", lambda device: native)
    x = torch.from_numpy(make_photo(48, 64)).permute(2, 0, 1)[None].float() / 255
    auto = make_stylizer("adain", [make_style(48, 48)], style_size=64)
    assert auto.bf16 is native
    y = auto(x)
    ref = make_stylizer("adain", [make_style(48, 48)], style_size=64, precision="fp32")(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert (y - ref).abs().mean() < (0.03 if native else 1e-6)


@pytest.mark.parametrize("native,expected", [(True, "torch"), (False, "onnxruntime")])
def test_engine_auto_is_torch_bf16_where_bf16_is_native(monkeypatch: pytest.MonkeyPatch, native: bool,
                                                        expected: str) -> None:
    import nst.engines

    monkeypatch.setattr(nst.engines, "bf16_supported", lambda device: native)
    assert nst.engines.fastest_engine() == expected


def test_torch_bf16_runner_casts_a_copy_and_stays_close() -> None:
    from nst.engines import torch_runner
    from nst.nets import MultiStyleConfig, MultiStyleNet

    torch.manual_seed(0)
    net = MultiStyleNet(MultiStyleConfig(("a",), (4, 8, 8), 1, skips=True)).select({"a": 1.0})
    x = torch.from_numpy(make_photo(40, 56)).permute(2, 0, 1)[None].float() / 255
    ref = torch_runner(net, torch.device("cpu"), "fp32")(x)
    y = torch_runner(net, torch.device("cpu"), "bf16")(x)
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert next(net.parameters()).dtype == torch.float32  # the caller's network is not cast
    assert (y - ref).abs().mean() < 0.02


def test_cpu_name_reads_the_model_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nst.device, "_cpu_flags", lambda: "processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t: fpu\n")
    assert nst.device.cpu_name() == "Some CPU 9000"
    monkeypatch.setattr(nst.device, "_cpu_flags", lambda: "")
    assert nst.device.cpu_name()  # a fallback name, never empty


@pytest.mark.parametrize("flags, fast", [("fpu sse2 avx avx2 fma", True), ("fpu avx512f avx512_vnni", True),
                                         ("fpu sse2 avx", False), ("fp asimd", False), ("", False)])
def test_int8_is_the_auto_precision_on_x86_with_avx2_or_vnni(monkeypatch: pytest.MonkeyPatch, flags: str,
                                                            fast: bool) -> None:
    monkeypatch.setattr(nst.device, "_cpu_flags", lambda: f"processor\t: 0\nflags\t\t: {flags}\n")
    assert nst.device.int8_fast() is fast


def test_nst_no_bf16_hides_the_native_bf16_flags_in_this_and_child_processes(monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path) -> None:
    import subprocess
    import sys

    cpuinfo = "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 avx512_vnni\n"
    monkeypatch.setattr(nst.device, "open", lambda *a, **k: __import__("io").StringIO(cpuinfo), raising=False)
    monkeypatch.delenv("NST_NO_BF16", raising=False)  # the suite may itself run with it set
    assert nst.device._cpu_has_bf16() and nst.device.amx_bf16()
    monkeypatch.setenv("NST_NO_BF16", "1")
    assert not nst.device._cpu_has_bf16() and not nst.device.amx_bf16()
    assert nst.device.int8_fast()  # VNNI stays: the int8 path is what such a CPU would take
    assert not nst.device.bf16_supported(torch.device("cpu"))
    monkeypatch.setenv("NST_NO_BF16", "0")
    assert nst.device._cpu_has_bf16()
    code = "import torch, nst.device as d; print(d.bf16_supported(torch.device('cpu')))"
    out = subprocess.run([sys.executable, "-c", code], env={**__import__("os").environ, "NST_NO_BF16": "1"},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_tune_allocator_applies_once_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform
    import subprocess
    import sys

    code = "import nst; print(nst.tune_allocator(), nst.tune_allocator())"
    env = dict(__import__("os").environ)
    on = subprocess.run([sys.executable, "-c", code], env={**env, "NST_MALLOC_TUNE": "1"}, capture_output=True,
                        text=True, check=True).stdout.split()
    off = subprocess.run([sys.executable, "-c", code], env={**env, "NST_MALLOC_TUNE": "0"}, capture_output=True,
                         text=True, check=True).stdout.split()
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert on == [str(glibc)] * 2
    assert off == ["False", "False"]
