"""Gatys optimisation speed: a plain baseline vs nst's default, side by side in one run.

    .venv/bin/python bench/gatys.py                 # 512 px, baseline 500 L-BFGS iterations (~15-30 min here)
    .venv/bin/python bench/gatys.py --size 256 --baseline-iters 200 --no-write   # quick look

Both results are scored with one loss definition (nst.optimize.gatys_loss, fp32, the same VGG19
weights, layers and loss weights) at the full output size. The baseline is bench/gatys_baseline.py:
single scale, fp32, NCHW, L-BFGS from the content image. Writes the table to bench/RESULTS.md and
the images (plus a side-by-side strip) to bench/out/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import gatys_baseline  # noqa: E402
from results import stamp, table, write_section  # noqa: E402

from nst.features import get_vgg  # noqa: E402
from nst.io.image import load_image, resize_long_side, save_image  # noqa: E402
from nst.optimize import OptimizeOptions, gatys_loss, optimize  # noqa: E402
from nst.registry import demo_content, get_style  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--content", default=str(demo_content()))
    ap.add_argument("--style", default="starry_night")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--baseline-iters", type=int, default=500)
    ap.add_argument("--iterations", type=int, default=None, help="override nst's full-size iterations")
    ap.add_argument("--coarse-iterations", type=int, default=None, help="override nst's coarse iterations")
    ap.add_argument("--min-size", type=int, default=None, help="override nst's first-scale size")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()

    out_dir = Path(__file__).with_name("out")
    out_dir.mkdir(exist_ok=True)
    content = load_image(args.content)
    style_path = Path(args.style) if Path(args.style).exists() else get_style(args.style).path
    style = load_image(style_path)
    overrides = {k: v for k, v in (("iterations", args.iterations), ("coarse_iterations", args.coarse_iterations),
                                                      ("min_size", args.min_size))
                 if v is not None}
    opts = OptimizeOptions(device="cpu", **overrides)  # type: ignore[arg-type]

    # One loss definition for scoring both results, at full size.
    c_full = resize_long_side(content, args.size)
    s_full = resize_long_side(style, round(args.size * opts.style_scale))
    score_fn = gatys_loss(get_vgg(torch.device("cpu")), c_full, [s_full], [1.0], opts)

    def score(x: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return {k: v.item() for k, v in score_fn(x).items()}  # weighted terms and their total

    t, cpu = time.perf_counter(), time.process_time()
    ours = optimize(c_full, [style], opts)
    t_ours, cpu_ours = time.perf_counter() - t, time.process_time() - cpu
    print(f"nst default: {t_ours:.1f} s", flush=True)

    snapshots: list[tuple[int, float, torch.Tensor]] = []
    t0, cpu0 = time.perf_counter(), time.process_time()

    def on_iter(i: int, x: torch.Tensor) -> None:
        if i % 25 == 0 or i == args.baseline_iters:
            snapshots.append((i, time.perf_counter() - t0, x.detach().clamp(0, 1).clone()))

    # the baseline averages over layers; nst sums them (nst.losses): the same loss with these weights
    base = gatys_baseline.run(c_full, s_full, args.baseline_iters, opts.content_weight * len(opts.content_layers),
                              opts.style_weight * len(opts.style_layers), opts.tv_weight,
                              list(opts.content_layers), list(opts.style_layers), on_iter)
    t_base, cpu_base = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"baseline: {t_base:.1f} s", flush=True)

    s_ours, s_base = score(ours), score(base)
    # When did the baseline first reach nst's final loss?
    reached = next(((i, ts) for i, ts, x in snapshots if score(x)["total"] <= s_ours["total"]), None)

    save_image(ours, out_dir / "gatys_nst.png")
    save_image(base, out_dir / "gatys_baseline.png")
    strip = torch.cat([c_full, base, ours], dim=3)
    save_image(strip, out_dir / "gatys_side_by_side.jpg")

    o = opts
    schedule = (f"coarse-to-fine {o.min_size}->{args.size} px, {o.coarse_iterations} iterations per coarse scale and "
                f"{o.iterations} at full size, L-BFGS, fp32, channels_last" if o.multiscale else "single scale")
    rows = [
        [f"baseline (plain, single scale, NCHW, {args.baseline_iters} it)", f"{t_base:.1f}", f"{cpu_base:.0f}",
         f"{s_base['content']:.4g}",
         f"{s_base['style']:.4g}", f"{s_base['tv']:.4g}", f"{s_base['total']:.4g}", "1.00", "1.00"],
        [f"nst default ({schedule})", f"{t_ours:.1f}", f"{cpu_ours:.0f}", f"{s_ours['content']:.4g}",
         f"{s_ours['style']:.4g}",
         f"{s_ours['tv']:.4g}", f"{s_ours['total']:.4g}", f"{t_ours / t_base:.3f}", f"{cpu_ours / cpu_base:.3f}"],
    ]
    md = table(["run", "wall s", "CPU s", "content", "style", "tv", "total loss", "wall / baseline",
                "CPU / baseline"], rows)
    verdict = (f"nst reached a total loss {s_ours['total'] / s_base['total']:.3f}x the baseline's in "
               f"{t_ours / t_base:.3f} of its wall time ({cpu_ours / cpu_base:.3f} of its CPU time; target: <= 1.0x "
               f"the loss in <= 0.2 of the time).")
    if reached:
        verdict += (f" The baseline first reached nst's final loss after {reached[0]} iterations "
                    f"({reached[1]:.0f} s).")
    else:
        verdict += f" The baseline never reached nst's final loss within {args.baseline_iters} iterations."
    body = (f"`python bench/gatys.py --size {args.size} --baseline-iters {args.baseline_iters}` - content "
            f"`{Path(args.content).name}`, style `{style_path.name}`, output long side {args.size} px. Losses are "
            f"scored at full size with one definition (nst.optimize.gatys_loss: content weight {o.content_weight:g}, "
            f"style weight {o.style_weight:g}, TV weight {o.tv_weight:g}).\n\n{md}\n\n{verdict}\n\n{stamp()}")
    print(md)
    print(verdict)
    if not args.no_write:
        write_section(f"Gatys optimisation ({args.size} px)", body)


if __name__ == "__main__":
    main()
