"""nst.io.frames: the one place arrays become tensors and back, rounding, and frame sizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst.errors import InputError, OptionError
from nst.io.frames import (
    array_to_tensor,
    arrays_to_tensor,
    even_size,
    quantize,
    resize_long_side,
    scaled_size,
    tensor_to_arrays,
)


def _frames(n: int = 2, h: int = 5, w: int = 7) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_arrays_round_trip_in_both_layouts() -> None:
    frames = _frames()
    plain, cl = arrays_to_tensor(frames), arrays_to_tensor(frames, channels_last=True)
    assert plain.shape == cl.shape == (2, 3, 5, 7) and plain.dtype == torch.float32
    assert plain.is_contiguous() and cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(plain, cl)
    assert torch.equal(plain[0, :, 1, 2], torch.from_numpy(frames[0][1, 2]).float() / 255)
    for out in (tensor_to_arrays(plain), tensor_to_arrays(cl)):
        assert all(np.array_equal(a, b) and a.flags.c_contiguous for a, b in zip(out, frames))
    with pytest.raises(ValueError):
        arrays_to_tensor([np.zeros((4, 4), np.uint8)])


def test_rounding_is_half_up_and_clamped_everywhere() -> None:
    """tensor_to_arrays (numpy), quantize and the torch formula agree, ties and out-of-range values included."""
    x = torch.rand(1, 3, 17, 19, generator=torch.Generator().manual_seed(1)) * 1.4 - 0.2
    x[0, 0, 0, :6] = torch.tensor([0.5, 1.5, 2.5, 253.5, 254.5, 254.6]) / 255  # ties
    ref = (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)[0].numpy()
    assert np.array_equal(tensor_to_arrays(x)[0], ref)
    assert np.array_equal(tensor_to_arrays(x[0])[0], ref)  # 3 x H x W too
    assert torch.equal(quantize(x), torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255)
    assert torch.equal(quantize(quantize(x)), quantize(x))


def test_general_arrays() -> None:
    grey = np.full((4, 6), 255, np.uint8)
    assert torch.equal(array_to_tensor(grey), torch.ones(1, 3, 4, 6))
    rgba = np.zeros((4, 6, 4), np.uint8)  # transparent black on white: white
    assert torch.equal(array_to_tensor(rgba), torch.ones(1, 3, 4, 6))
    assert torch.equal(array_to_tensor(np.full((2, 2, 3), 65535, np.uint16)), torch.ones(1, 3, 2, 2))
    assert torch.equal(array_to_tensor(np.full((2, 2, 3), 2.0)), torch.ones(1, 3, 2, 2))
    rgb = _frames(1)[0]
    assert torch.equal(array_to_tensor(rgb), arrays_to_tensor([rgb]))
    for bad in (np.zeros((2, 2, 2), np.uint8), np.zeros((0, 2, 3), np.uint8), np.zeros((2, 2, 3), np.int32)):
        with pytest.raises(InputError):
            array_to_tensor(bad)


def test_sizes() -> None:
    assert scaled_size(640, 480, 320) == (320, 240)
    assert scaled_size(641, 481, None) == (641, 481)
    assert scaled_size(4000, 10, 16) == (16, 1)  # never 0
    assert even_size(641, 481) == (640, 480)
    x = torch.rand(1, 3, 30, 40)
    assert resize_long_side(x, 20).shape == (1, 3, 15, 20)
    assert resize_long_side(x, None) is x and resize_long_side(x, 40) is x
    with pytest.raises(OptionError):
        resize_long_side(x, 8)
