"""`nst video` speed on a 640x480 clip: end to end against the stylizer alone.

    python bench/video.py [--frames 24] [--methods adain,net] [--model NET.pt] [--batch 1] [--no-write]

On one stylizer object (weights loaded and warmed up once):
  stylizer  - the stylizer alone on the clip's frames, already decoded to 1x3x480x640 tensors;
  video     - `nst.video.stylize_video` on the file: decode, RGB->tensor, stylise, tensor->RGB,
              lossless work frame (resume), H.264 encode, AAC audio copied, rename;
  pipeline  - the same with an identity stylizer: the pipeline's own cost per frame.
overhead = 1 - (stylizer time inside that video run) / (video run wall time): the share of the
total spent on everything but stylising (target <= 10%). "vs alone" uses the separate stylizer
run instead (more exposed to load from other processes). Prints a table and writes the
"## Video" section of bench/RESULTS.md. The clip is generated from the bundled photo (a pan,
with a 440 Hz AAC track), so nothing outside the repository is needed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from results import panning_clip, stamp, table, write_section  # noqa: E402

from nst.methods import make_stylizer  # noqa: E402
from nst.video import VideoOptions, arrays_to_tensor, probe, read_frames, stylize_video  # noqa: E402

W, H, FPS, RATE = 640, 480, 24, 44100
STYLE = "starry_night"


def make_clip(path: Path, frames: int) -> Path:
    """A 640x480 24 fps H.264 clip panning across the bundled photo, with a sine-wave AAC track."""
    return panning_clip(path, frames, W, H, FPS, audio_rate=RATE)


def random_model(arch: str, tmp: Path) -> Path:
    """A checkpoint of an untrained network: the same speed as a trained one of that architecture."""
    from nst.checkpoints import FORMAT, FORMAT_VERSION, save_checkpoint
    from nst.nets import ARCHS, TransformerNet

    torch.manual_seed(0)
    net = TransformerNet(ARCHS[arch]).eval()
    return save_checkpoint(tmp / f"random-{arch}.pt", {
        "format": FORMAT, "format_version": FORMAT_VERSION, "arch": net.config.to_dict(), "arch_name": arch,
        "style": {"name": "random", "sha256": "0" * 64}, "train": {}, "iteration": 0, "losses": [],
        "wall_time": 0.0, "state_dict": net.state_dict()})


def measure(method: str, clip: Path, tmp: Path, n: int, batch: int, model: str | None) -> list[object]:
    """One table row: the stylizer alone, the video pipeline with it, and with an identity stylizer."""
    info = probe(clip)
    if model is not None and model.startswith("random:"):
        model = str(random_model(model.split(":", 1)[1], tmp))
    stylizer = make_stylizer(method, [STYLE], model=model)
    frames = [arrays_to_tensor([f.rgb()]) for f in read_frames(info)]
    stylizer(frames[0])  # warm-up: weights, allocator, oneDNN kernels

    t = time.perf_counter()
    for i in range(0, len(frames), batch):
        stylizer(torch.cat(frames[i:i + batch]))
    alone = time.perf_counter() - t

    opts = VideoOptions(size=max(W, H), batch=batch)
    t = time.perf_counter()
    r = stylize_video(clip, tmp / f"{method}.mp4", stylizer, opts)
    video = time.perf_counter() - t
    assert r.frames == n and r.audio is not None, (r.frames, r.audio)

    t = time.perf_counter()
    p = stylize_video(clip, tmp / f"{method}-identity.mp4", lambda x: x.clone(), opts)
    pipeline = time.perf_counter() - t

    overhead = 1 - r.stylize_seconds / video
    label = method if model is None else f"{method} ({Path(model).stem})"
    return [label, f"{W}x{H}", n, batch, f"{n / alone:.2f}", f"{n / video:.2f}", f"{100 * overhead:.1f}%",
            f"{100 * (1 - alone / video):.1f}%", f"{1000 * pipeline / n:.1f}",
            f"{1000 * (pipeline - p.stylize_seconds) / n:.1f}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=24, help="clip length in frames (default 24 = 1 s)")
    ap.add_argument("--methods", default="adain", help="comma-separated: adain, net, optimize (default adain)")
    ap.add_argument("--model", default=None, help="trained network for net (default: the style's shipped one); "
                    "random:slim or random:full times an untrained network of that architecture")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()

    load0 = os.getloadavg()[0]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", args.frames)
        rows = [measure(m, clip, Path(tmp), args.frames, args.batch, args.model if m == "net" else None)
                for m in methods]
    load1 = os.getloadavg()[0]

    header = ["method", "size", "frames", "batch", "stylizer fps", "video fps", "overhead", "overhead vs alone",
              "pipeline ms/frame", "of which not identity"]
    tab = table(header, rows)
    print(tab)
    met = all(float(str(r[6]).rstrip("%")) <= 10 for r in rows)
    cmd = " ".join(["python bench/video.py", f"--frames {args.frames}", f"--methods {','.join(methods)}",
                    f"--batch {args.batch}"] + ([f"--model {args.model}"] if args.model else []))
    notes = (f"{stamp()} Load average {load0:.1f} at start, {load1:.1f} at end (the machine is shared, "
             f"so absolute fps vary between runs).\n\n"
             f"`{cmd}`: a {args.frames}-frame {W}x{H} {FPS} fps H.264 clip with AAC sound, written as H.264 mp4 "
             f"(x264 veryfast, CRF 18) with the sound copied. *overhead* = share of the `nst video` wall time not "
             f"spent in the stylizer, measured in the same run; target <= 10%: {'met' if met else 'NOT met'}. "
             f"*overhead vs alone* compares with a separate run of the stylizer on pre-decoded tensors: it also "
             f"counts the CPU the background writer takes from the stylizer, which the in-run figure books as "
             f"stylizer time, but other processes' load differs between the two runs (it can come out negative). "
             f"*pipeline ms/frame* = the whole pipeline with an identity stylizer (decode, conversions, lossless "
             f"work frame for resume, H.264 encode, audio, rename); PNG compression and encoding run on a "
             f"background thread, overlapping the stylizer.")
    print(notes.split("\n\n")[0])
    if not args.no_write:
        write_section("Video", tab + "\n\n" + notes)
        print("updated bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
