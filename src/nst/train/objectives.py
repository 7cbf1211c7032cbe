"""The two training objectives, built from the shared loss vocabulary of nst.losses.

perceptual_loss (Johnson, Alahi & Fei-Fei 2016): loss(y, x) for the network output y and its input
photos x:
    content_weight * sum_l MSE(phi_l(y), phi_l(x))               (content layers, default relu2_2)
  + style_weight   * sum_l MSE(G(phi_l(y)), G(phi_l(style)))       (style layers, fixed Gram targets)
  + tv_weight      * TV(y)
with phi the frozen VGG19 of `nst.features` and G the Gram matrix normalised by C*H*W.

distill_loss (`--teacher adain`): loss(y, t) against AdaIN's output t for the same photos:
    mean |pool2(y) - pool2(t)|                                   ("teacher": layout and colour, half size)
  + content_weight * sum_l MSE(phi_l(y), phi_l(t))               (the teacher's features: sharpness)
  + style_weight   * sum_l MSE(G(phi_l(y)), G(phi_l(t)))          (texture: the teacher's own Grams)
  + tv_weight      * TV(y)
A pixel loss at full size asks for the teacher's brush strokes at exact positions; a small network
learns those last and meanwhile averages them into blur. So the pixel term compares 2x2 averages, and
the strokes are asked for through VGG features of the teacher's output and their per-image Grams
(the texture AdaIN paints on this photo, not the painting's).
"""

from __future__ import annotations

import torch

from .. import losses as L
from .options import TrainOptions


def perceptual_loss(vgg: L.FeatureExtractor, style: torch.Tensor, opts: TrainOptions) -> L.PerceptualLoss:
    """Content terms against the input photo's features, style terms against `style`'s Grams (computed once)."""
    with torch.no_grad():
        feats = vgg(style, opts.style_layers)
    return L.PerceptualLoss(vgg, {
        "content": [L.ContentLoss(n, None, opts.content_weight) for n in opts.content_layers],
        "style": [L.StyleLoss(n, L.gram(feats[n]), opts.style_weight) for n in opts.style_layers],
        "tv": [L.TVLoss(opts.tv_weight)],
    })


def distill_loss(vgg: L.FeatureExtractor | None, opts: TrainOptions) -> L.PerceptualLoss:
    """All terms against the teacher's output; feature terms with a zero weight are left out (no VGG pass)."""
    use_vgg = vgg is not None
    return L.PerceptualLoss(vgg, {
        "teacher": [L.PooledL1Loss(1.0, pool=2)],
        "content": [L.ContentLoss(n, None, opts.content_weight) for n in opts.content_layers
                    if use_vgg and opts.content_weight > 0],
        "style": [L.StyleLoss(n, None, opts.style_weight) for n in opts.style_layers
                  if use_vgg and opts.style_weight > 0],
        "tv": [L.TVLoss(opts.tv_weight)],
    })
