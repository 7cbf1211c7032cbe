"""Frames: uint8 H x W x 3 RGB arrays <-> N x 3 x H x W float [0, 1] tensors, quantisation, sizing."""

from __future__ import annotations

import torch


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Round a float image to 8 bits (what a PNG or an encoded frame keeps), as float again."""
    return (x.detach().float().clamp(0, 1) * 255.0 + 0.5).floor().div_(255.0)
