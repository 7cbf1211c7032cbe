"""Helpers shared by the subcommands: one-line argparse errors, option types, the progress bar."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, NoReturn, Sequence


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{text}'") from None


def names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def add_style_options(p: argparse.ArgumentParser) -> None:
    """--style (repeatable) and --style-weights, for the commands that also take --model."""
    p.add_argument("--style", action="append", default=None,
                   help="style image path or bundled style name (see `nst styles`); repeat to blend "
                        "(not needed with --model)")
    p.add_argument("--style-weights", type=floats, default=None, help="blend weights, e.g. 0.7,0.3")


def style_args(args: argparse.Namespace) -> list[str]:
    """The --style values; none is fine with --model (the network carries its style)."""
    from ..errors import OptionError

    if not args.style and not args.model:
        raise OptionError("a style is needed: --style NAME_OR_PATH (or a trained network: --model PATH)")
    return list(args.style or [])


def add_method_options(p: argparse.ArgumentParser,
                       methods: Sequence[str] = ("auto", "optimize", "adain", "net")) -> None:
    """Flags for choosing and tuning a stylisation method; defaults come from the options dataclasses."""
    from ..optimize import OptimizeOptions
    from ..stylizer import AdaINOptions

    o, a = OptimizeOptions(), AdaINOptions()
    p.add_argument("--method", default="auto", choices=list(methods),
                   help="auto: the fastest good method (default): a trained network for the style if one exists, "
                   "else adain (one pass, any style); net: a trained network; optimize: Gatys, slow, best quality")
    p.add_argument("--model", default=None,
                   help="trained network checkpoint (.pt) or exported ONNX file to use (implies --method net)")
    p.add_argument("--engine", choices=["torch", "onnxruntime", "opencv"], default="torch",
                   help="inference engine for --method net")
    p.add_argument("--size", type=positive_int, default=None,
                   help=f"long side of the output in pixels (default {a.size}; aspect ratio kept)")
    p.add_argument("--preserve-color", choices=["luminance", "histogram"], default=None,
                   help="keep the photo's colours: luminance-only transfer or colour histogram matching")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present, else CPU)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="bf16 autocast; auto uses it only where the hardware supports it natively")
    g = p.add_argument_group("optimize (Gatys et al. 2015)")
    g.add_argument("--iterations", type=positive_int, default=o.iterations, help="iterations at full size")
    g.add_argument("--coarse-iterations", type=int, default=o.coarse_iterations,
                   help="iterations at each coarser scale")
    g.add_argument("--content-weight", type=float, default=o.content_weight)
    g.add_argument("--style-weight", type=float, default=o.style_weight)
    g.add_argument("--tv-weight", type=float, default=o.tv_weight)
    g.add_argument("--content-layers", type=names, default=o.content_layers, help="comma-separated, e.g. relu4_2")
    g.add_argument("--style-layers", type=names, default=o.style_layers,
                   help="comma-separated, e.g. relu1_1,relu2_1,relu3_1,relu4_1,relu5_1")
    g.add_argument("--optimizer", choices=["lbfgs", "adam"], default=o.optimizer)
    g.add_argument("--lr", type=float, default=o.lr, help="Adam step size")
    g.add_argument("--init", choices=["content", "noise", "style"], default=o.init)
    g.add_argument("--seed", type=int, default=o.seed)
    g.add_argument("--style-scale", type=float, default=o.style_scale,
                   help="style image size relative to the output (larger: bigger brush strokes)")
    g.add_argument("--no-multiscale", dest="multiscale", action="store_false", help="single scale (slower)")
    g.add_argument("--min-size", type=positive_int, default=o.min_size, help="long side of the first scale")
    g.add_argument("--save-every", type=positive_int, default=None, metavar="N",
                   help="save the current result every N iterations")
    g = p.add_argument_group("adain (Huang & Belongie 2017)")
    g.add_argument("--strength", type=float, default=a.strength, help="0 = photo, 1 = full style")
    g.add_argument("--style-size", type=positive_int, default=a.style_size, help="long side styles are encoded at")


def method_options(args: argparse.Namespace, method: str) -> dict[str, Any]:
    """Pick the fields of the chosen method's options dataclass from parsed args."""
    from ..optimize import OptimizeOptions
    from ..stylizer import AdaINOptions, NetOptions

    cls = OptimizeOptions if method == "optimize" else NetOptions if method == "net" else AdaINOptions
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if hasattr(args, f.name) and getattr(args, f.name) is not None:
            out[f.name] = getattr(args, f.name)
    if method == "optimize" and getattr(args, "size", None) is not None:
        out["size"] = args.size  # not an OptimizeOptions field: the front end resizes (stylize_tensor)
    return out


class Bar:
    """Renders Progress events as a tqdm bar weighted by work, with the latest losses."""

    def __init__(self, enabled: bool, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=100, desc=desc, unit="%", disable=not enabled, dynamic_ncols=True,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")

    def __call__(self, ev: Any) -> None:
        self.bar.n = round(100 * ev.done / ev.total, 1)
        loss = ev.losses.get("total")
        self.bar.set_postfix_str(f"{ev.info} it {ev.step}/{ev.steps}" + (f" loss {loss:.4g}" if loss else ""),
                                 refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


