"""Model files: the checkpoint format, its versions, and the one registry of loaders.

A checkpoint is a dict of plain types plus state dicts, read with `torch.load(weights_only=True)`
(no code runs when a file is loaded):
    format: "nst-transformer" or "nst-multistyle", format_version: 1, arch: the architecture's to_dict(), arch_name,
    style: {name, sha256}, train: the training options, iteration, losses, wall_time,
    state_dict (fp32, or fp16 for shipped models), optimizer (absent in shipped models).
`load_checkpoint` reads any version up to FORMAT_VERSION of any format in `LOADERS`. Inference code
imports this module, never the training code.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import InputError, OptionError
from .io.atomic import atomic_write
from .io.files import check_input_file
from .nets import ArchConfig, MultiStyleConfig, MultiStyleNet, TransformerNet, add_style
from .registry import model_file

FORMAT = "nst-transformer"
FORMAT_VERSION = 1
MULTI_FORMAT = "nst-multistyle"  # MultiStyleNet: one trunk, norm parameters per style
MULTI_FORMAT_VERSION = 1
ADDON_FORMAT = "nst-style-addon"  # one style's norm parameters for a multi-style network (nst train --base)
ADDON_FORMAT_VERSION = 1


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> Path:
    """torch.save atomically (temp file + rename): an interrupted save never corrupts `path`."""
    p = Path(path)
    with atomic_write(p, mkdir=True) as f:
        torch.save(ckpt, f)
    return p


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and check a checkpoint dict (weights only: no code runs). Clear InputErrors for files that
    are missing, not checkpoints, or written by a newer nst."""
    p = check_input_file(path, "model file", "no such model file")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for foreign files
        raise InputError(f"{p}: not an nst model checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("format"), str) or ckpt["format"] not in LOADERS:
        raise InputError(f"{p}: not an nst model checkpoint (no 'format' field this nst knows)")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{p}: checkpoint has an invalid format version {version!r}")
    newest = VERSIONS[ckpt["format"]]
    if version > newest:
        raise InputError(f"{p}: checkpoint format version {version} is newer than this nst supports "
                         f"({newest}); upgrade nst to load it")
    if ckpt["format"] == ADDON_FORMAT:
        check_addon(ckpt, str(p))
    else:
        check_checkpoint(ckpt, str(p))
    return ckpt


def check_addon(ckpt: dict[str, Any], label: str = "style add-on") -> None:
    """A style add-on: its base's identity and one style's norm parameters (small, finite vectors)."""
    base, style, norms = ckpt.get("base"), ckpt.get("style"), ckpt.get("norms")
    if not isinstance(base, dict) or not isinstance(base.get("sha256"), str):
        raise InputError(f"{label}: style add-on has no base network identity")
    if not isinstance(style, dict) or not isinstance(style.get("name"), str) or not style["name"]:
        raise InputError(f"{label}: style add-on has no style name")
    if not isinstance(norms, dict) or not norms or len(norms) > 256:
        raise InputError(f"{label}: style add-on has no norm parameters")
    for k, v in norms.items():
        ok = (isinstance(k, str) and isinstance(v, (tuple, list)) and len(v) == 2
              and all(isinstance(t, torch.Tensor) and t.is_floating_point() and t.dim() == 1 and 0 < t.numel() <= 1024
                      for t in v))
        if not ok:
            raise InputError(f"{label}: style add-on norm parameters are malformed ({str(k)[:60]})")
        if not all(bool(torch.isfinite(t).all()) for t in v):
            raise InputError(f"{label}: style add-on parameter {k} has NaN or infinite values")


def check_checkpoint(ckpt: dict[str, Any], label: str = "checkpoint") -> None:
    """Check a checkpoint's architecture and weights before anything is allocated for them.

    'arch' must be a dict within the architecture bounds (nets.check_bounds), 'state_dict' a dict of
    tensors whose names and shapes are exactly the ones that architecture has (compared against the
    network built on the meta device, which allocates nothing), and every weight finite.
    """
    arch, weights = ckpt.get("arch"), ckpt.get("state_dict")
    if not isinstance(arch, dict):
        raise InputError(f"{label}: checkpoint has no architecture ('arch' is missing or not a dict)")
    if not isinstance(weights, dict) or not weights:
        raise InputError(f"{label}: checkpoint has no weights ('state_dict' is missing, empty or not a dict)")
    for k, v in weights.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor) or not v.is_floating_point():
            raise InputError(f"{label}: checkpoint weights are not all named floating-point tensors ({str(k)[:60]})")
    parse, build = _NETS[ckpt["format"]]
    try:
        config = parse(arch)
    except OptionError as e:
        raise InputError(f"{label}: checkpoint has an {e}") from None
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build(config).state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0][:60]}"
        raise InputError(f"{label}: checkpoint weights do not match its architecture ({what}; "
                         f"{len(missing)} missing, {len(unexpected)} unexpected)")
    for k, shape in expected.items():
        if tuple(weights[k].shape) != shape:
            raise InputError(f"{label}: checkpoint weights do not match its architecture ({k} has shape "
                             f"{tuple(weights[k].shape)}, the architecture needs {shape})")
    for k, v in weights.items():
        if not bool(torch.isfinite(v).all()):
            raise InputError(f"{label}: checkpoint weight {k} has NaN or infinite values (a broken or tampered "
                             "model)")


def _with_weights(make: Callable[[], torch.nn.Module], ckpt: dict[str, Any]) -> torch.nn.Module:
    """Build the network (a corrupt architecture is bad input) and load its weights as fp32."""
    try:
        net = make()
        net.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    except (OptionError, KeyError, AttributeError, TypeError) as e:
        raise InputError(f"checkpoint has an invalid architecture or weights ({e})") from None
    except RuntimeError as e:
        raise InputError(f"checkpoint weights do not match its architecture ({str(e).splitlines()[0]})") from None
    return net.eval()


def _load_transformer_v1(ckpt: dict[str, Any]) -> torch.nn.Module:
    return _with_weights(lambda: TransformerNet(ArchConfig.from_dict(ckpt["arch"])), ckpt)


def _load_multistyle_v1(ckpt: dict[str, Any]) -> torch.nn.Module:
    return _with_weights(lambda: MultiStyleNet(MultiStyleConfig.from_dict(ckpt["arch"])), ckpt)


def _load_addon_v1(ckpt: dict[str, Any]) -> torch.nn.Module:
    """The base network with the add-on's style appended (and made its default style)."""
    base_info = ckpt.get("base") or {}
    here = Path(ckpt.get("_path", ".")).parent
    candidates = []  # the base as it was named at training, and a file of its name beside the add-on
    try:
        candidates.append(model_file(base_info["spec"]))
    except (InputError, KeyError):
        pass
    if base_info.get("file") and (here / str(base_info["file"])).is_file():
        candidates.append(here / str(base_info["file"]))
    if not candidates:
        raise InputError(f"the base network {base_info.get('spec')!r} of this style add-on is not found")
    matching = [c for c in candidates if file_sha256(c) == base_info.get("sha256")]
    if not matching:  # a moved add-on finds its base beside it even where another file has the old name
        raise InputError(f"{candidates[0]}: not the base network this style add-on was trained on "
                         "(its SHA-256 differs)")
    base_path = matching[0]
    base, _ = load_checkpoint(base_path)
    if not isinstance(base, MultiStyleNet):
        raise InputError(f"{base_path}: not a multi-style network")
    name = str(ckpt["style"]["name"])
    norms = {k: (v[0].float(), v[1].float()) for k, v in ckpt["norms"].items()}
    try:
        net = add_style(base, name, norms)
    except (KeyError, RuntimeError, OptionError) as e:
        raise InputError(f"this style add-on does not fit its base network ({e})") from None
    net.default_style = name
    return net.eval()


#: format name -> (its architecture from the checkpoint's 'arch', the network for that architecture).
_NETS: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[Any], torch.nn.Module]]] = {
    FORMAT: (ArchConfig.from_dict, TransformerNet), MULTI_FORMAT: (MultiStyleConfig.from_dict, MultiStyleNet)}
#: format name -> loader of that format's checkpoint dict (one registry for every model file).
LOADERS: dict[str, Callable[[dict[str, Any]], torch.nn.Module]] = {FORMAT: _load_transformer_v1,
                                                                   MULTI_FORMAT: _load_multistyle_v1,
                                                                   ADDON_FORMAT: _load_addon_v1}
#: format name -> the newest version of it this nst reads.
VERSIONS = {FORMAT: FORMAT_VERSION, MULTI_FORMAT: MULTI_FORMAT_VERSION, ADDON_FORMAT: ADDON_FORMAT_VERSION}


def load_checkpoint(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A trained network (eval mode, fp32, CPU) and its checkpoint metadata (without the weights)."""
    ckpt = read_checkpoint(path)
    net = LOADERS[ckpt["format"]](dict(ckpt, _path=str(path)))
    meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "optimizer")}
    return net, meta  # type: ignore[return-value]


def inference_checkpoint(ckpt: dict[str, Any], half: bool = True) -> dict[str, Any]:
    """The checkpoint to ship: no optimiser state, weights in fp16 (half the size; outputs differ by
    ~1e-3, see tests)."""
    out = {k: v for k, v in ckpt.items() if k != "optimizer"}
    out["state_dict"] = {k: (v.half() if half and v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
    return out
