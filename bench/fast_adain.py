"""AdaIN speed: nst's AdaINStylizer vs the naive baseline (bench/adain_baseline.py), side by side.

    .venv/bin/python bench/fast_adain.py            # also called by bench/fast.py

ms per image at 256, 512 and 1024 px (long side, 4:3), frames per second at 640x480, and how far
nst's output is from the baseline's (max and mean absolute difference, RGB in [0, 1]).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from adain_baseline import NaiveAdaIN  # noqa: E402
from results import best_times_interleaved, conv_gflop, measured_peak, photo_frame, stamp, table, write_section  # noqa: E402

from nst.io.image import load_image, resize_long_side  # noqa: E402
from nst.methods.adain import AdaINOptions, AdaINStylizer  # noqa: E402
from nst.methods.base import StyleInput  # noqa: E402
from nst.registry import get_style  # noqa: E402

TOLERANCE = 0.02  # mean absolute difference allowed vs the naive fp32 output


def run(write: bool = True, style_name: str = "the_scream") -> str:
    torch.manual_seed(0)
    style = resize_long_side(load_image(get_style(style_name).path), 512)
    naive = NaiveAdaIN()
    ours = AdaINStylizer([StyleInput(style_name, style)], opts=AdaINOptions(style_size=512, device="cpu"))
    rows = []
    for long_side in (256, 512, 1024):
        x = photo_frame(long_side * 3 // 4, long_side)
        reps = 3 if long_side < 1024 else 2
        t_naive, t_ours = best_times_interleaved([lambda: naive(x, style), lambda: ours(x)], repeat=reps)  # noqa: B023
        rows.append([f"{long_side}x{long_side * 3 // 4}", f"{t_naive * 1000:.0f}", f"{t_ours * 1000:.0f}",
                     f"{t_naive / t_ours:.2f}x"])
    x = photo_frame(480, 640)
    t_naive, t_content_only, t_ours = best_times_interleaved(
        [lambda: naive(x, style), lambda: naive.decoder(naive.encoder(x)), lambda: ours(x)], repeat=6)
    ref, out = naive(x, style), ours(x)
    diff = (ref - out).abs()
    fps_rows = [["naive (fp32, NCHW, style encoded per call)", f"{1 / t_naive:.2f}", "1.00x"],
                ["naive encoder+decoder only (no style, no AdaIN)", f"{1 / t_content_only:.2f}",
                 f"{t_naive / t_content_only:.2f}x"],
                ["nst AdaINStylizer (style cached, channels_last)", f"{1 / t_ours:.2f}", f"{t_naive / t_ours:.2f}x"]]
    ok = diff.mean().item() <= TOLERANCE
    # Where the limit is: the convolutions' work per frame against what this CPU computes per second.
    gflop = conv_gflop(lambda: ours(x), ours.model)
    peak = measured_peak()["matmul"]
    need = gflop * 2 / t_naive  # GFLOP/s that 2x the naive frame rate would take, with nst's work per frame
    body = (
        "`python bench/fast_adain.py` (style: the_scream encoded at 512 px; content: the bundled photo).\n\n"
        "ms per image (long side x 3/4):\n\n"
        + table(["size", "naive ms", "nst ms", "speed-up"], rows)
        + "\n\nFrames per second at 640x480 (best of 6; the three run in turn, so a change in load hits all alike):\n\n"
        + table(["AdaIN at 640x480", "fps", "vs naive"], fps_rows)
        + f"\n\nOutput vs the naive fp32 baseline at 640x480: max abs difference {diff.max().item():.4f}, "
        f"mean {diff.mean().item():.5f} (tolerance: mean <= {TOLERANCE}; {'met' if ok else 'NOT met'}). "
        f"Target >= 2x the naive baseline: {'met' if t_naive / t_ours >= 2 else 'NOT met'} "
        f"({t_naive / t_ours:.2f}x).\n\n"
        f"Work and limit at 640x480: nst's AdaIN does {gflop:.0f} GFLOP of convolutions per frame (encoder to "
        f"relu4_1 + decoder, counted from the layer shapes); at {1 / t_ours:.2f} fps that is {gflop / t_ours:.0f} "
        f"GFLOP/s, {gflop / t_ours / peak:.0%} of the fp32 matmul peak measured in this run ({peak:.0f} GFLOP/s, "
        f"2048^2). 2x the naive baseline would take {need:.0f} GFLOP/s, {need / peak:.0%} of that peak, with the "
        "same arithmetic; the remaining levers change the arithmetic (bf16, which this CPU lacks; Winograd; "
        f"a smaller decoder, which changes the output).\n\n{stamp()}"
    )
    print(body)
    if write:
        write_section("AdaIN (fast, any style)", body)
    return body


if __name__ == "__main__":
    run(write="--no-write" not in sys.argv)
