"""int8 static quantisation of an exported network for ONNX Runtime (the `int8` precision).

The convolutions run in int8 (8-bit activations, 8-bit per-channel weights; fast where the CPU has
VNNI, bench/realtime.py); instance norms and the rest stay fp32 (QDQ format). Activation ranges are
calibrated on the two bundled photos at a few sizes, so the result is deterministic. Quantised files
are cached under $XDG_CACHE_HOME/nst/int8 (or ~/.cache/nst/int8), keyed by the model's SHA-256 and
this recipe's version, and written atomically; without a writable cache the model stays in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import NSTError, OptionError
from .io.atomic import atomic_write

RECIPE = "qdq-u8s8-conv-v1"
CALIBRATION_SIZES = ((240, 320), (320, 240), (256, 256))


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "nst" / "int8"


def _calibration(input_name: str) -> list[dict[str, np.ndarray]]:
    from .io.frames import resize_long_side
    from .io.image import load_image

    batches = []
    for name in ("chelsea_cat.png", "rocket.jpg"):
        img = load_image(Path(str(resources.files("nst") / "assets" / name)))
        for h, w in CALIBRATION_SIZES:
            x = resize_long_side(img, max(h, w))
            xh, xw = x.shape[-2:]  # the photo's own shape, cut to multiples of 8 (a network with skips needs them)
            x = x[..., :xh - xh % 8, :xw - xw % 8]
            batches.append({input_name: np.ascontiguousarray(x.numpy().astype(np.float32))})
    return batches


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _quantize(src: Path) -> bytes:
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError:
        raise OptionError("int8 needs the 'onnx' and 'onnxruntime' packages (pip install 'nst[onnx]')",
                          field="precision") from None

    source = onnx.load(str(src))
    input_name = source.graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.items = iter(_calibration(input_name))

        def get_next(self) -> Any:
            return next(self.items, None)

    # the quantiser writes scratch files, and logs advice through the root logger: the library is silent
    with tempfile.TemporaryDirectory(prefix="nst_q8_") as tmp, _quiet_logging():
        quantize_static(str(src), str(Path(tmp) / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        op_types_to_quantize=["Conv"])
        model = onnx.load(str(Path(tmp) / "q.onnx"))
    onnx.helper.set_model_props(model, {p.key: p.value for p in source.metadata_props})  # keeps "nst_multiple"
    return bytes(model.SerializeToString())


def int8_model(path: str | os.PathLike) -> bytes:
    """The int8 version of an exported ONNX network, serialised (made once, then read from the cache)."""
    src = Path(path)
    digest = hashlib.sha256(src.read_bytes() + RECIPE.encode()).hexdigest()[:32]
    cached = cache_dir() / f"{digest}.onnx"
    if cached.is_file():
        return cached.read_bytes()
    data = _quantize(src)
    try:
        with atomic_write(cached, mkdir=True) as f:
            f.write(data)
    except (OSError, NSTError):  # no writable cache: this process keeps it in memory only
        pass
    return data
