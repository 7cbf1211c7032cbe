"""Trained networks: load, export, and the three inference engines that run them.

A model spec is a checkpoint path (.pt from `nst train` or `nst export --pt`), an exported ONNX file,
or the name of a bundled style that ships a network (`src/nst/models/<style>.pt`).

Engines (all map N x 3 x H x W RGB [0, 1] -> same size, clamped; all reflect-pad to the network's
multiple (4 or 8, stored in the ONNX file's metadata as "nst_multiple") and crop the same way,
`nets.pad_to_multiple`, so they agree):
- "torch": the PyTorch module (channels_last where it measured faster; bf16 only with native support).
- "onnxruntime": the exported ONNX graph in ONNX Runtime's CPU provider.
- "opencv": the same ONNX file through `cv2.dnn.readNetFromONNX`, fed a blob the way the classic OpenCV
  tutorial ran Johnson's models (`blobFromImage`, `setInput`, `forward`); here the blob is our RGB
  [0, 1] tensor, since our networks take that.
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .checkpoints import inference_checkpoint, load_checkpoint, read_checkpoint, save_checkpoint
from .device import bf16_supported, int8_fast, pick_device, use_bf16
from .errors import InputError, NSTError, OptionError, OutputError
from .io.atomic import atomic_path
from .nets import MultiStyleNet, pad_to_multiple, stylize_padded
from .quantize import int8_model
from .registry import model_file

ENGINES = ("auto", "torch", "onnxruntime", "opencv")


def fastest_engine() -> str:
    """"auto", by measurement (bench/realtime.py, MultiStyleNet at 640x480): torch in bf16 wherever the CPU
    has native bf16 (Sapphire Rapids with AMX: 47.6 fps against 23.8 for int8 ONNX Runtime; AMD Zen 4 with
    AVX-512 BF16: 34.4 against 22.9); elsewhere ONNX Runtime where it is installed (int8 on x86 with AVX2 or
    VNNI: device.int8_fast), else torch."""
    if bf16_supported(torch.device("cpu")):
        return "torch"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    return "onnxruntime"


def resolve_engine(path: str | os.PathLike, engine: str = "auto") -> str:
    """The engine `engine` means for the model file `path`: "auto" is ONNX Runtime for an .onnx file, else
    `fastest_engine()`."""
    if engine != "auto":
        return engine
    return "onnxruntime" if is_onnx(path) else fastest_engine()


def load_model(spec: str | os.PathLike, style_weights: dict[str, float] | None = None
               ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network (fp32, eval, CPU) and its metadata for a .pt model spec.

    A multi-style network is returned for one style or blend: `style_weights` ({name: weight}); it
    is required when the network has more than one style.
    """
    net, meta = load_checkpoint(model_file(spec))
    if isinstance(net, MultiStyleNet):
        styles = net.config.styles
        if style_weights is None and net.default_style is not None:
            style_weights = {net.default_style: 1.0}
        if style_weights is None:
            if len(styles) > 1:
                raise OptionError(f"{Path(spec).name} paints {len(styles)} styles: choose with --style "
                                  f"({', '.join(styles)})")
            style_weights = {styles[0]: 1.0}
        net = net.select(style_weights)
    return net, meta


def export_pt(spec: str | os.PathLike, out: str | os.PathLike, half: bool = True) -> Path:
    """Write an inference-only checkpoint (no optimiser state; fp16 weights unless `half` is False)."""
    return save_checkpoint(out, inference_checkpoint(read_checkpoint(model_file(spec)), half))


#: Oldest ONNX opset our networks export to (nearest-neighbour Resize with scales needs 9).
ONNX_MIN_OPSET = 9


def onnx_opsets() -> tuple[int, int]:
    """The opsets `export_onnx` can write with the installed exporter: (oldest, newest)."""
    try:
        from torch.onnx import _constants

        newest = int(getattr(_constants, "ONNX_MAX_OPSET", 20))
    except Exception:  # a torch without the private constants: the exporter's long-standing maximum
        newest = 20
    return ONNX_MIN_OPSET, newest


def export_onnx(spec: str | os.PathLike | torch.nn.Module, out: str | os.PathLike, opset: int = 17,
                style_weights: dict[str, float] | None = None) -> Path:
    """Export to ONNX with dynamic batch, height and width (H and W must be multiples of the network's
    `multiple`, which is stored in the file's metadata; the engines pad). Input "input" and output
    "output": N x 3 x H x W RGB [0, 1] (output unclamped). A multi-style network is exported for one
    style or blend (`style_weights`).

    Uses the TorchScript-based exporter (`dynamo=False`): its graph of plain Conv / Pad(reflect) /
    InstanceNormalization / Resize ops loads in OpenCV DNN as well as ONNX Runtime.
    """
    low, high = onnx_opsets()
    if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
        raise OptionError(f"must be a whole number from {low} to {high} (what the installed exporter supports), "
                          f"not {opset!r}", field="opset")
    net = spec if isinstance(spec, torch.nn.Module) else load_model(spec, style_weights)[0]
    net = net.float().eval()
    multiple = int(getattr(net, "multiple", 4))
    p = Path(out)
    if p.suffix.lower() != ".onnx":
        raise OutputError(f"{p}: the ONNX file name must end in .onnx")
    try:
        import onnx
    except ImportError:
        raise OptionError("ONNX export needs the 'onnx' package (pip install 'nst[onnx]')") from None
    with atomic_path(p) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(net, (torch.rand(1, 3, 64, 96),), str(tmp), input_names=["input"],
                              output_names=["output"], dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                                                     "output": {0: "batch", 2: "height", 3: "width"}},
                              opset_version=opset, dynamo=False)
        except MemoryError:
            raise
        except Exception as e:  # torch's exporter raises several types for what it cannot do
            raise OptionError(f"{opset}: the installed exporter cannot export this network at this opset "
                              f"({str(e).splitlines()[0][:120]})", field="opset") from None
        model = onnx.load(str(tmp))
        onnx.helper.set_model_props(model, {"nst_multiple": str(multiple)})
        onnx.save(model, str(tmp))
    return p


def onnx_multiple(path: str | os.PathLike) -> int:
    """The padding multiple an exported file asks for (4 for files from before it was recorded)."""
    try:
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        multiple = int(props.get("nst_multiple", 4))
    except Exception:  # an unreadable file fails, with a clear message, when the engine loads it
        return 4
    if not 1 <= multiple <= 64:  # the file is untrusted: a huge multiple would pad to a huge image
        raise InputError(f"{path}: invalid nst_multiple {multiple} in the model's metadata (1 to 64)")
    return multiple


# ----------------------------------------------------------------------------------------- engines

Runner = Callable[[torch.Tensor], torch.Tensor]


def _checked(run: Callable[[np.ndarray], np.ndarray], label: str) -> Callable[[np.ndarray], np.ndarray]:
    """`run`, with its failures and any output that is not N x 3 x H x W like its input as InputErrors
    naming the model file (an ONNX file is untrusted input)."""

    def call(a: np.ndarray) -> np.ndarray:
        try:
            y = np.asarray(run(a), dtype=np.float32)
        except MemoryError:
            raise
        except Exception as e:  # onnxruntime and OpenCV raise their own exception types
            reason = str(e).strip().splitlines()[-1][:160] if str(e).strip() else type(e).__name__
            raise InputError(f"{label}: the model failed on a {a.shape[3]}x{a.shape[2]} image ({reason})") from None
        if y.shape != a.shape:
            raise InputError(f"{label}: the model's output has shape {tuple(y.shape)} for an input of shape "
                             f"{tuple(a.shape)}; nst needs an RGB image of the input's size")
        return y

    return call


def _probe(run: Callable[[np.ndarray], np.ndarray], multiple: int) -> None:
    """Run a model once on two tiny images (portrait and landscape): a fixed input size, a wrong channel
    count or an output of another size fails here, at load, with the message of `_checked`."""
    for h, w in ((2 * multiple, 3 * multiple), (3 * multiple, 2 * multiple)):
        run(np.full((1, 3, h, w), 0.5, np.float32))


def _pad_run_crop(run: Callable[[np.ndarray], np.ndarray], multiple: int = 4, label: str = "model") -> Runner:
    """Wrap a numpy N x 3 x H x W runner with the shared padding, cropping and clamping (and the checks of
    `_checked`); the model is probed once here."""
    checked = _checked(run, label)
    _probe(checked, multiple)

    def call(x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x.detach().float().cpu(), multiple)
        y = checked(np.ascontiguousarray(xp.numpy()))
        return torch.from_numpy(y)[..., :h, :w].clamp(0, 1).to(x.device)

    return call


def _check_onnx_input(path: str | os.PathLike, shapes: list[list[Any]]) -> None:
    """The model must take one input, N x 3 x H x W with free height and width (`shapes`: each input's
    dimensions, an int where fixed)."""
    if len(shapes) != 1:
        raise InputError(f"{path}: the model takes {len(shapes)} inputs; nst models take one image")
    shape = shapes[0]
    if len(shape) != 4:
        raise InputError(f"{path}: the model takes a {len(shape)}-D input; nst models take N x 3 x H x W images")
    if isinstance(shape[1], int) and shape[1] != 3:
        raise InputError(f"{path}: the model takes {shape[1]} input channels; nst models take RGB (3)")
    if isinstance(shape[2], int) or isinstance(shape[3], int):
        raise InputError(f"{path}: the model has a fixed input size ({shape[3]}x{shape[2]}); nst needs a model "
                         "with free height and width (export one with `nst export`)")


def _onnx_graph_inputs(path: str | os.PathLike) -> list[list[Any]] | None:
    """Each graph input's dimensions (int where fixed, else None), read with the `onnx` package; None when
    it is not installed or cannot read the file (the engine then reports the file)."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:
        return None
    weights = {t.name for t in graph.initializer}
    return [[d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim]
            for i in graph.input if i.name not in weights]


def onnx_session(path: str | os.PathLike, threads: int | None = None, int8: bool = False,
                 model: bytes | None = None) -> Any:
    """An ONNX Runtime CPU session with all graph optimisations (`int8`: the model quantised first; `model`:
    the file's bytes, already read or quantised), on `threads` intra-op threads (None: ONNX Runtime's
    default, one per physical core)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OptionError("engine 'onnxruntime' needs the 'onnxruntime' package (pip install 'nst[onnx]')") from None
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    # no busy-waiting between runs: ONNX Runtime's spinning threads held the cores while nst's own work on
    # each frame (checks, conversions, overlay) ran, which made the camera loop at 640x480 on 2 cores
    # 1.2x slower (19.4 against 23.5 fps with int8; each run alone is ~8% slower without spinning)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        if model is None:
            model = int8_model(path) if int8 else None
        return ort.InferenceSession(model if model is not None else str(path), so, providers=["CPUExecutionProvider"])
    except NSTError:
        raise
    except Exception as e:
        raise InputError(f"{path}: ONNX Runtime cannot load this model ({str(e).splitlines()[0][:200]})") from None


def onnxruntime_runner(path: str | os.PathLike, threads: int | None = None, int8: bool = False) -> Runner:
    """ONNX Runtime on `threads` threads; None: as many as torch uses when it is called
    (`torch.set_num_threads`), as the torch engine does, so one thread setting holds for both engines (a
    session keeps the threads it was made with: one is made per thread count asked for, from the model's
    bytes kept here)."""
    if int8:  # check the model as it is first: the quantiser would fail on a bad one with a less clear message
        _check_onnx_input(path, [[d if isinstance(d, int) else None for d in i.shape]
                                 for i in onnx_session(path, 1).get_inputs()])
    try:
        model = int8_model(path) if int8 else Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read the model ({e.strerror})") from None
    sessions: dict[int, Any] = {}

    def session() -> Any:
        n = threads or torch.get_num_threads()
        sess = sessions.get(n)
        if sess is None:
            sess = sessions[n] = onnx_session(path, n, model=model)
        return sess

    inputs = session().get_inputs()
    _check_onnx_input(path, [[d if isinstance(d, int) else None for d in i.shape] for i in inputs])
    name = inputs[0].name
    return _pad_run_crop(lambda a: session().run(None, {name: a})[0], onnx_multiple(path), str(path))


def opencv_runner(path: str | os.PathLike) -> Runner:
    """OpenCV DNN, as the classic tutorial: readNetFromONNX, then setInput(blob) / forward() per frame.

    On OpenCV 5 this is the default engine choice (ENGINE_AUTO: the new graph engine). We never ask
    for ENGINE_CLASSIC: in opencv-python-headless 5.0.0 it aborts the process ("malloc(): invalid
    size") on these networks.
    """
    import cv2

    shapes = _onnx_graph_inputs(path)  # OpenCV runs a model made for 4 channels on 3 without a word
    if shapes is not None:
        _check_onnx_input(path, shapes)
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
    except cv2.error as e:
        reason = str(e).strip().splitlines()[-1][:200]
        raise InputError(f"{path}: OpenCV DNN cannot load this model ({reason})") from None

    def run(a: np.ndarray) -> np.ndarray:
        net.setInput(a)
        return net.forward()

    return _pad_run_crop(run, onnx_multiple(path), str(path))


def torch_runner(net: torch.nn.Module, device: torch.device, precision: str = "auto",
                 channels_last: bool = False) -> Runner:
    """The network in torch. bf16 (`use_bf16`) casts a copy of the weights once and runs bf16 throughout:
    on a CPU with AMX 1.27x the frame rate of autocast, whose casts are per call (same output)."""
    bf16 = use_bf16(precision, device)
    dtype = torch.bfloat16 if bf16 else torch.float32
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if bf16:
        net = copy.deepcopy(net)
    net = net.to(device, dtype).eval().to(memory_format=fmt)  # type: ignore[call-overload]

    def call(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            y = stylize_padded(net, x.to(device, dtype).contiguous(memory_format=fmt))
        return y.float().contiguous()

    return call


def is_onnx(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def make_runner(spec: str | os.PathLike, engine: str = "auto", device: str | None = None,
                precision: str = "auto", onnx_cache: str | os.PathLike | None = None,
                style_weights: dict[str, float] | None = None) -> tuple[Runner, str]:
    """A callable N x 3 x H x W RGB [0, 1] -> stylised, for `spec` on `engine`; and a label.

    A .pt model on onnxruntime/opencv is exported to ONNX first (to `onnx_cache`, default a temporary
    file). An .onnx model runs on onnxruntime or opencv only ("auto" picks onnxruntime for it).
    `style_weights` picks the style (or blend) of a multi-style network.
    """
    if engine not in ENGINES:
        raise OptionError(f"unknown engine '{engine}' (use {', '.join(ENGINES)})")
    path = model_file(spec)
    engine = resolve_engine(path, engine)
    label = path.stem if style_weights is None else "+".join(style_weights)
    if is_onnx(path):
        if engine == "torch":
            raise OptionError(f"{path} is an ONNX file: use --engine onnxruntime or --engine opencv")
        return _onnx_runner(path, engine, precision), f"{label} ({engine})"
    net, _ = load_model(path, style_weights)
    if engine == "torch":
        if precision == "int8":
            raise OptionError("int8 runs on the onnxruntime engine only", field="precision")
        return torch_runner(net, pick_device(device), precision), f"{label} (torch)"
    if onnx_cache is None:  # both engines read the file into memory: a temporary one is enough
        with tempfile.TemporaryDirectory(prefix="nst_") as tmp:
            onnx = export_onnx(net, Path(tmp) / f"{path.stem}.onnx")
            return _onnx_runner(onnx, engine, precision), f"{label} ({engine})"
    return _onnx_runner(export_onnx(net, onnx_cache), engine, precision), f"{label} ({engine})"


def _onnx_runner(onnx_path: Path, engine: str, precision: str = "fp32") -> Runner:
    if engine == "onnxruntime":  # auto: int8 on x86 (device.int8_fast; outputs within ~2%)
        return onnxruntime_runner(onnx_path, int8=precision == "int8" or (precision == "auto" and int8_fast()))
    if precision == "int8":
        raise OptionError("int8 runs on the onnxruntime engine only", field="precision")
    return opencv_runner(onnx_path)
