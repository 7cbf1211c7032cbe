"""Fast methods side by side at 640x480: trained feed-forward networks on every engine (and AdaIN).

    /work/venv/bin/python bench/fast.py                 # all sections, writes bench/RESULTS.md
    /work/venv/bin/python bench/fast.py --only net      # one section (net | shipped | adain)
    /work/venv/bin/python bench/fast.py --no-write      # print only

Sections are functions (`net_section`, `adain_section`) sharing `fps_of` and `results.best_time`, so a
method is added by writing one function and listing it in SECTIONS.

For each network (slim and full) and engine (torch fp32 NCHW / channels_last, ONNX Runtime, OpenCV DNN)
it reports frames per second, GFLOP per frame (convolutions, counted from the layer shapes), the
achieved GFLOP/s and that as a fraction of this CPU's peak measured in the same run (fp32 matmul
2048^2, and a 3x3 64-channel convolution), plus how far each engine's output is from PyTorch's. Weights:
the shipped network of a bundled style for slim when there is one (speed does not depend on the weight
values; a random-weight network otherwise, marked). Training speed: a few measured training steps per
architecture, plus the images/s the shipped networks' own training runs recorded in their checkpoints.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).parent))

from results import best_time, measured_peak, photo_frame, stamp, table, write_section  # noqa: E402

from nst.nets import ARCHS, TransformerNet  # noqa: E402
from nst.registry import demo_content  # noqa: E402

W, H = 640, 480
TARGETS = {"slim": 25.0, "full": 5.0}  # the targets; "medium" (the shipped networks) has none
ENGINE_TOL = 1e-3  # max abs difference allowed between an engine and torch fp32 (RGB in [0, 1])


def frame(h: int = H, w: int = W) -> torch.Tensor:
    """The bundled photo resized and centre-cropped to exactly 1 x 3 x h x w."""
    return photo_frame(h, w)


def fps_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Frames per second of one call of `fn` (best of `repeat` after a warm-up)."""
    return 1.0 / best_time(fn, repeat=repeat, warmup=1)


def net_for(arch: str) -> tuple[TransformerNet, str]:
    """A shipped trained network of this architecture if one exists, else random weights."""
    from nst.engines import load_model
    from nst.registry import shipped_models

    for name in shipped_models():
        net, meta = load_model(name)
        if meta.get("arch_name") == arch:
            return net, f"shipped `{name}`"
    torch.manual_seed(0)
    return TransformerNet(ARCHS[arch]).eval(), "random weights"


def engine_runners(net: TransformerNet, onnx: Path) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    from nst.engines import onnxruntime_runner, opencv_runner, torch_runner

    cpu = torch.device("cpu")
    return {
        "torch fp32 NCHW": torch_runner(net, cpu, "fp32", channels_last=False),
        "torch fp32 channels_last": torch_runner(net, cpu, "fp32", channels_last=True),
        "onnxruntime": onnxruntime_runner(onnx),
        "opencv dnn": opencv_runner(onnx),  # OpenCV 5's default (new) engine; the classic one crashes
    }


def training_speed(arch: str, steps: int = 3, size: int = 256, batch: int = 4) -> float:
    """Measured images/s of `train` (pretrained VGG19, default loss layers) for a few steps."""
    from PIL import Image

    from nst.train import TrainOptions, train

    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "photos"
        data.mkdir()
        img = Image.open(demo_content()).convert("RGB")
        for i in range(batch):
            img.rotate(i * 5).save(data / f"p{i}.png")
        opts = TrainOptions(style="starry_night", data=str(data), output=str(Path(d) / "n.pt"), arch=arch,
                            size=size, batch=batch, iterations=steps + 1, checkpoint_every=1000, preview_every=0)
        times: list[float] = []
        last = [time.perf_counter()]

        def tick(ev: object) -> None:
            now = time.perf_counter()
            times.append(now - last[0])
            last[0] = now

        train(opts, tick)
    return batch / min(times[1:])  # first step includes set-up


def shipped_training_rows() -> list[list[object]]:
    from nst.checkpoints import read_checkpoint
    from nst.registry import shipped_models

    rows: list[list[object]] = []
    for name, path in shipped_models().items():
        c = read_checkpoint(path)
        t = c["train"]
        ips = t["batch"] * c["iteration"] / c["wall_time"] if c.get("wall_time") else float("nan")
        rows.append([name, c["arch_name"], t["size"], t["batch"], c["iteration"], f"{c['wall_time'] / 60:.0f}",
                     f"{ips:.2f}"])
    return rows


def net_section(write: bool = True) -> str:
    from nst.engines import export_onnx

    x = frame()
    peak = measured_peak()
    load = os.getloadavg()[0]
    rows, agree, verdicts = [], [], []
    with tempfile.TemporaryDirectory() as d:
        for arch in ("slim", "medium", "full"):
            net, source = net_for(arch)
            onnx = export_onnx(net, Path(d) / f"{arch}.onnx")
            gflop = net.flops_per_pixel() * W * H / 1e9
            with torch.inference_mode():
                ref = torch_runner_ref(net, x)
            fps = {}
            for engine, run in engine_runners(net, onnx).items():
                fps[engine] = fps_of(lambda: run(x), repeat=5 if arch == "slim" else 3)  # noqa: B023
                diff = (run(x) - ref).abs().max().item()
                agree.append([arch, engine, f"{diff:.2e}", "yes" if diff <= ENGINE_TOL else "NO"])
                rows.append([arch, source, engine, f"{fps[engine]:.2f}", f"{1000 / fps[engine]:.0f}",
                             f"{gflop:.1f}", f"{gflop * fps[engine]:.0f}",
                             f"{gflop * fps[engine] / peak['matmul']:.0%}"])
            best = max(fps, key=lambda e: fps[e])
            cv = fps["opencv dnn"]
            target = (f" (target >= {TARGETS[arch]:g}: {'met' if fps[best] >= TARGETS[arch] else 'NOT met'})"
                      if arch in TARGETS else " (no target)")
            verdicts.append(f"- **{arch}**: fastest engine {best} at {fps[best]:.2f} fps{target}; "
                            f"{fps[best] / cv:.2f}x OpenCV DNN (target >= 2x: "
                            f"{'met' if fps[best] / cv >= 2 else 'NOT met'}).")
    train_rows = [[arch, f"{training_speed(arch):.2f}"] for arch in ("slim", "medium", "full")]
    body = (
        "`python bench/fast.py --only net`: one 640x480 frame (the bundled photo), batch 1, every engine on "
        "the same network in one run. fps = 1 / best of 5 (3 for full) after a warm-up, including the "
        "engine's padding/cropping and conversion. GFLOP/frame counts the convolutions' multiply-adds x 2.\n\n"
        + table(["arch", "weights", "engine", "fps", "ms/frame", "GFLOP/frame", "GFLOP/s", "of matmul peak"], rows)
        + f"\n\nPeak measured in this run: fp32 matmul 2048^2 {peak['matmul']:.0f} GFLOP/s; 3x3 64-channel conv "
        f"(channels_last, 320x240) {peak['conv3x3_64']:.0f} GFLOP/s. Load average at the start: {load:.1f} "
        "(2 cores shared with other jobs, including our own network training when it runs: numbers are lower "
        "than on an idle machine).\n\n"
        + "\n".join(verdicts)
        + "\n\nEngines vs torch fp32 NCHW on that frame (max abs difference, RGB in [0, 1]; tolerance "
        f"{ENGINE_TOL:g}; tests/test_nets.py checks 1e-4 on random inputs):\n\n"
        + table(["arch", "engine", "max abs diff", "within tolerance"], agree)
        + "\n\nTraining speed (measured here, 3 steps after a warm-up step, batch 4 of 256x256 crops, VGG19 to "
        "relu3_1, fp32):\n\n"
        + table(["arch", "images/s"], train_rows)
        + "\n\nThe shipped networks' own training runs: section \"Feed-forward networks: shipped training runs\"."
        + f"\n\n{stamp()}"
    )
    print(body)
    if write:
        write_section("Feed-forward networks", body)
    return body


def shipped_section(write: bool = True) -> str:
    """The shipped networks' training runs, from their checkpoints (cheap: no timing here)."""
    body = ("Read from the shipped checkpoints (`src/nst/models/*.pt`): their last training stage, with the "
            "perceptual loss (each started from earlier distillation stages; src/nst/models/README.md has the "
            "whole chain and the commands). minutes = the training loop's wall time, images/s = batch x "
            "iterations / that time; mostly four runs at a time, one thread each, on the 2 cores (details there).\n\n"
            + table(["style", "arch", "crop", "batch", "iterations", "minutes", "images/s"], shipped_training_rows()))
    print(body)
    if write:
        write_section("Feed-forward networks: shipped training runs", body)
    return body


def torch_runner_ref(net: TransformerNet, x: torch.Tensor) -> torch.Tensor:
    from nst.nets import stylize_padded

    return stylize_padded(net.float(), x)


def adain_section(write: bool = True) -> str:
    from fast_adain import run

    return run(write=write)


SECTIONS: dict[str, Callable[[bool], str]] = {"net": net_section, "shipped": shipped_section,
                                               "adain": adain_section}


def main(argv: list[str]) -> int:
    write = "--no-write" not in argv
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    for name, fn in SECTIONS.items():
        if only in (None, name):
            fn(write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
