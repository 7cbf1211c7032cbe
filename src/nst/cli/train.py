"""`nst train` (train a feed-forward network for one style) and `nst export` (ONNX / small .pt)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .common import Parser, names, positive_int


def add_parsers(sub: Any) -> None:
    from ..nets import ARCHS
    from ..train import TrainOptions

    d = TrainOptions()
    pt = sub.add_parser("train", help="train a fast feed-forward network for one style",
                        description="Train Johnson et al.'s feed-forward network (instance norm) for one style on a "
                        "folder of photos. Writes a checkpoint every --checkpoint-every iterations and at the end; "
                        "--resume continues exactly where a run stopped.")
    pt.add_argument("--style", required=True, help="bundled style name (see `nst styles`) or style image path")
    pt.add_argument("--data", required=True, help="folder of training photos (searched recursively)")
    pt.add_argument("-o", "--output", required=True, help="checkpoint to write (.pt)")
    pt.add_argument("--arch", choices=list(ARCHS), default=d.arch,
                    help="full: Johnson et al. 2016 (32/64/128 channels, 5 residual blocks); medium: 16/32/64, 3 "
                    "blocks; slim: 8/16/32, 3 blocks, for real time on a CPU")
    pt.add_argument("--size", type=positive_int, default=d.size, help="training crop size (pixels)")
    pt.add_argument("--iterations", type=positive_int, default=d.iterations)
    pt.add_argument("--batch", type=positive_int, default=d.batch)
    pt.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    pt.add_argument("--content-weight", type=float, default=d.content_weight)
    pt.add_argument("--style-weight", type=float, default=d.style_weight)
    pt.add_argument("--tv-weight", type=float, default=d.tv_weight)
    pt.add_argument("--content-layers", type=names, default=d.content_layers)
    pt.add_argument("--style-layers", type=names, default=d.style_layers)
    pt.add_argument("--style-size", type=positive_int, default=d.style_size,
                    help="long side the style image is encoded at (larger: bigger strokes)")
    pt.add_argument("--teacher", choices=["adain"], default=d.teacher or None,
                    help="distil AdaIN instead of the perceptual loss: L1 to AdaIN's output for the style (half "
                    "size), plus --content-weight x the feature loss on --content-layers and --style-weight x the "
                    "Gram loss on --style-layers, both against that output, plus --tv-weight x TV")
    pt.add_argument("--init", default="", metavar="CKPT",
                    help="start from this checkpoint's weights (same --arch) instead of random ones: fine-tuning")
    pt.add_argument("--grad-clip", type=float, default=d.grad_clip, help="clip the gradient's global norm to this "
                    "(0: no clipping)")
    pt.add_argument("--divergence-factor", type=float, default=d.divergence_factor,
                    help="a loss above this times the median of the last 50 steps counts as divergence: roll back "
                    "to the last good checkpoint")
    pt.add_argument("--seed", type=int, default=d.seed)
    pt.add_argument("--checkpoint-every", type=positive_int, default=d.checkpoint_every, metavar="N")
    pt.add_argument("--preview-every", type=int, default=d.preview_every, metavar="N",
                    help="save a preview of a fixed photo every N iterations (0: never)")
    pt.add_argument("--preview-image", default=None, help="photo for the previews (default: the bundled demo photo)")
    pt.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=d.precision,
                    help="bf16 autocast (auto: only where the hardware has native bf16)")
    pt.add_argument("--device", default=None)
    pt.add_argument("--resume", action="store_true", help="continue from the checkpoint at -o")
    pt.add_argument("--overwrite", action="store_true", help="start afresh even if -o exists")
    pt.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pt.set_defaults(func=cmd_train)

    pe = sub.add_parser("export", help="export a trained network to ONNX or a small fp16 checkpoint",
                        description="Export a checkpoint from `nst train` to ONNX (dynamic height and width; "
                        "runs in ONNX Runtime and OpenCV DNN) and/or an inference-only fp16 .pt.")
    pe.add_argument("model", help="checkpoint (.pt) or bundled style name with a shipped network")
    pe.add_argument("--onnx", default=None, metavar="OUT.onnx")
    pe.add_argument("--pt", default=None, metavar="OUT.pt", help="inference-only checkpoint, fp16 weights")
    pe.add_argument("--opset", type=int, default=17)
    pe.add_argument("--overwrite", action="store_true")
    pe.set_defaults(func=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..errors import OutputError
    from ..train import TrainOptions, train

    fields = {f: getattr(args, f) for f in TrainOptions.__dataclass_fields__ if hasattr(args, f)}
    fields["teacher"] = fields.get("teacher") or ""
    opts = TrainOptions(**fields)
    out = Path(opts.output)
    if out.exists() and not (args.resume or args.overwrite):
        raise OutputError(f"{out} exists; use --resume to continue it or --overwrite to start afresh")
    bar = tqdm(total=opts.iterations, desc=f"train {Path(opts.style).stem}", unit="it", dynamic_ncols=True,
               disable=args.quiet or not sys.stderr.isatty())
    warnings = 0

    def progress(ev: Any) -> None:
        nonlocal warnings
        if ev.stage == "warning":
            warnings += 1
            bar.write(f"nst: warning: {ev.info}", file=sys.stderr)
            return
        bar.n = ev.step
        lo = ev.losses
        line = " ".join(f"{k} {v:.4g}" for k, v in lo.items()) + f" {ev.info}"
        bar.set_postfix_str(line, refresh=False)
        bar.refresh()
        if args.quiet is False and not sys.stderr.isatty() and (ev.step % opts.checkpoint_every == 0):
            print(f"it {ev.step}/{ev.steps} {line}",
                  flush=True)

    t0 = time.perf_counter()
    try:
        result = train(opts, progress, resume=args.resume and out.exists())
    finally:
        bar.close()
    last = result.losses[-1] if result.losses else {}
    print(f"wrote {result.path} after {result.iterations} iterations in {time.perf_counter() - t0:.0f} s "
          f"({result.images_per_second:.2f} images/s); final loss {last.get('total', float('nan')):.4g}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable training image(s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..engines import export_onnx, export_pt
    from ..errors import OptionError
    from ..image_io import check_output_path
    from ..registry import model_file as resolve_model

    if not args.onnx and not args.pt:
        raise OptionError("nothing to do: give --onnx OUT.onnx and/or --pt OUT.pt")
    src = resolve_model(args.model)
    for out, ext in ((args.onnx, ".onnx"), (args.pt, ".pt")):
        if out:
            check_output_path(Path(out), [src], args.overwrite, formats={ext: ext})
    if args.onnx:
        t0 = time.perf_counter()
        export_onnx(src, args.onnx, opset=args.opset)
        print(f"wrote {args.onnx} (dynamic height and width) in {time.perf_counter() - t0:.1f} s")
    if args.pt:
        p = export_pt(src, args.pt)
        print(f"wrote {p} ({p.stat().st_size / 1e6:.1f} MB, fp16 weights)")
    return 0


__all__ = ["add_parsers", "Parser"]
