"""`nst train` (train a feed-forward network for one style) and `nst export` (ONNX / small .pt)."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from .common import Parser, whole_number
from .progress import ProgressLine

T = TypeVar("T")


def add_parsers(sub: Any) -> None:
    from ..train import TrainOptions
    from ..train.addon import AddStyleOptions
    from .options import add_options

    pt = sub.add_parser("train", help="train a fast feed-forward network for one style",
                        description="Train Johnson et al.'s feed-forward network (instance norm) for one style on a "
                        "folder of photos. Writes a checkpoint every --checkpoint-every iterations and at the end; "
                        "--resume continues exactly where a run stopped. Needs --style, --data and -o. With --base "
                        "NETWORK (a multi-style network), only the new style's norm parameters are trained on the "
                        "network's frozen trunk: a new style in minutes, saved as a small add-on file.")
    seen: set[str] = set()
    add_options(pt, AddStyleOptions, seen=seen)
    add_options(pt.add_argument_group("whole-network training (without --base)"), TrainOptions, seen=seen)
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
    pe.add_argument("--opset", type=whole_number, default=17,
                    help="ONNX opset (default 17; checked against what the installed exporter writes, 7..20 with "
                    "torch 2.x)")
    pe.add_argument("--overwrite", action="store_true", help="replace existing output files (never the model)")
    pe.set_defaults(func=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    from ..options import build
    from ..train import TrainOptions, train
    from .options import given

    if hasattr(args, "base"):
        return _cmd_add_style(args)
    opts = build(TrainOptions, given(args, [f.name for f in dataclasses.fields(TrainOptions)]))
    t0 = time.perf_counter()
    result = _run(args, Path(opts.output), f"train {Path(opts.style).stem}",
                  lambda bar, resume: train(opts, bar, resume))
    last = result.losses[-1] if result.losses else {}
    print(f"wrote {result.path} after {result.iterations} iterations in {time.perf_counter() - t0:.0f} s "
          f"({result.images_per_second:.2f} images/s); final loss {last.get('total', float('nan')):.4g}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable training image(s)")
    return 0


def onnx_opsets() -> tuple[int, int]:
    """The ONNX opsets the installed torch exporter writes (TorchScript-based, as `export_onnx` uses)."""
    try:
        from torch.onnx import _constants as c

        return int(c.ONNX_MIN_OPSET), int(getattr(c, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", c.ONNX_MAX_OPSET))
    except (ImportError, AttributeError):  # a torch that moved them: the range this code was tested with
        return 7, 20


def cmd_export(args: argparse.Namespace) -> int:
    from ..engines import export_onnx, export_pt
    from ..errors import OptionError
    from ..io.image import check_output_path
    from ..options import check_value
    from ..registry import model_file as resolve_model

    if not args.onnx and not args.pt:
        raise OptionError("nothing to do: give --onnx OUT.onnx and/or --pt OUT.pt")
    lo, hi = onnx_opsets()
    check_value("opset", args.opset, {"min": lo, "max": hi})
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


def _run(args: argparse.Namespace, out: Path, label: str, fn: Callable[[ProgressLine, bool], T]) -> T:
    """A training run with the output rule (an existing file needs --resume or --overwrite) and the bar."""
    from ..errors import OutputError

    if out.exists() and not (args.resume or args.overwrite):
        raise OutputError(f"{out} exists; use --resume to continue it or --overwrite to start afresh")
    bar = ProgressLine(label, enabled=not args.quiet)
    try:
        return fn(bar, args.resume and out.exists())
    finally:
        bar.close()


def _cmd_add_style(args: argparse.Namespace) -> int:
    from ..options import build
    from ..train import TrainOptions
    from ..train.addon import AddStyleOptions, train_style
    from .options import check_applies, given

    values = given(args, sorted({f.name for cls in (AddStyleOptions, TrainOptions) for f in dataclasses.fields(cls)}))
    check_applies(values, [AddStyleOptions], "--base (an add-on style)")
    opts = build(AddStyleOptions, values)
    out = Path(opts.output)
    result = _run(args, out, f"add style {Path(opts.style).stem}", lambda bar, resume: train_style(opts, bar, resume))
    last = result.losses[-1] if result.losses else {}
    print(f"wrote {result.path} ({out.stat().st_size // 1024} kB) after {result.iterations} iterations in "
          f"{result.seconds:.0f} s; final loss {last.get('total', float('nan')):.4g}; use it with "
          f"`nst image PHOTO --model {result.path}`")
    return 0
