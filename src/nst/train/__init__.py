"""Training feed-forward style networks (Johnson, Alahi & Fei-Fei 2016).

`train(opts, progress)` runs Adam on one of two objectives (`objectives.py`): the perceptual loss
(content, Gram/style and TV terms from nst.losses) or, with `teacher="adain"`, distillation of the
pretrained AdaIN model. Layout: `options.py` (TrainOptions with per-field help and bounds, TrainResult),
`data.py` (deterministic batches), `objectives.py` (the losses), `guard.py` (divergence rollback),
`loop.py` (the loop). The checkpoint format is nst.checkpoints; training imports inference code
(nets, adain, stylizer), never the other way round.

Deviations from the paper, and why:
- Default style layers stop at relu3_1 (Johnson: relu1_2 ... relu4_3). On a 2-core CPU the VGG
  passes are most of a step and stopping at relu3_1 halves them; strokes are a little smaller.
  `--style-layers` restores deeper layers.
- Losses are means (not sums) and Grams are normalised by C*H*W, so weights do not depend on size;
  layer terms are summed, each with the full weight (nst.losses).
- Random crops with horizontal flips of the training photos (Johnson: 256x256 resized COCO images).
- Gradients are clipped (`grad_clip`), and a diverging step is rolled back (`guard.py`).

Reproducibility: batch composition, crops and flips are a pure function of (seed, image index in
the run), so `resume=True` continues with exactly the batches an uninterrupted run would have seen,
and the losses match (tests/test_train.py checks this, with and without a rollback). One caveat: a
rollback returns to the last checkpoint *in memory*; a run resumed from a final checkpoint at an
iteration that is not a multiple of `checkpoint_every` can roll back to a later state than the
uninterrupted run would have.
"""

from __future__ import annotations

from .data import IMAGE_EXTENSIONS, PhotoBatches, TeacherBatches, list_images, random_crop
from .guard import DivergenceGuard
from .loop import preview_path, train
from .objectives import distill_loss, perceptual_loss
from .options import TrainOptions, TrainResult

__all__ = ["train", "TrainOptions", "TrainResult", "list_images", "PhotoBatches", "TeacherBatches", "preview_path",
           "IMAGE_EXTENSIONS", "random_crop", "perceptual_loss", "distill_loss", "DivergenceGuard"]
