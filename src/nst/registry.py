"""Named styles: the public-domain paintings bundled in `nst/styles`, and trained networks for them."""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import InputError
from .io.files import check_input_file

_STYLES = resources.files("nst") / "styles"
_MODELS = resources.files("nst") / "models"


@dataclass(frozen=True)
class StyleInfo:
    """One bundled painting (index.json) and where its files are."""

    name: str
    title: str
    artist: str
    year: int
    licence: str
    source: str
    path: Path

    @property
    def model_path(self) -> Path | None:
        """The trained feed-forward network that paints this style, if one ships with nst."""
        name = _model_index().get(self.name)
        return Path(str(_MODELS / name)) if name else None


@lru_cache(maxsize=1)
def _model_index() -> dict[str, str]:
    """models/index.json: bundled style name -> the shipped network file that paints it."""
    f = _MODELS / "index.json"
    return dict(json.loads(f.read_text(encoding="utf-8"))["styles"]) if f.is_file() else {}


@lru_cache(maxsize=1)
def styles() -> dict[str, StyleInfo]:
    """All bundled styles by name, in index order."""
    index = json.loads((_STYLES / "index.json").read_text(encoding="utf-8"))
    return {e["name"]: StyleInfo(e["name"], e["title"], e["artist"], int(e["year"]), e["licence"], e["source"],
                                 Path(str(_STYLES / e["file"]))) for e in index}


def get_style(name: str) -> StyleInfo:
    """A bundled style by name; an unknown name raises InputError listing the closest names."""
    table = styles()
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name.lower().replace("-", "_").replace(" ", "_"), list(table), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known styles: {', '.join(table)}"
    raise InputError(f"unknown style '{name}'{hint} (see `nst styles`)")


def is_path_like(spec: str) -> bool:
    """A style spec is a path if it has a directory part or a file extension, or exists."""
    return "/" in spec or "\\" in spec or Path(spec).suffix != "" or Path(spec).exists()


def resolve_style(spec: str) -> Path:
    """`--style` value -> image path: an existing file path, or a bundled style's name."""
    if is_path_like(spec):
        return Path(spec)  # nst.io.image reports a missing or unreadable file
    return get_style(spec).path


def style_label(spec: str) -> str:
    """Short name for output file names and captions: the style name or the file's stem."""
    return Path(spec).stem if is_path_like(spec) else spec


def shipped_models() -> dict[str, Path]:
    """Bundled style name -> its shipped network, for the styles that have one."""
    return {name: s.model_path for name, s in styles().items() if s.model_path is not None}


def shipped_model(spec: str) -> Path | None:
    """The network that ships for bundled style `spec`, or None (paths and unknown names: None)."""
    if is_path_like(spec) or spec not in styles():
        return None
    return styles()[spec].model_path


def model_file(spec: str | os.PathLike) -> Path:
    """The one model lookup: an existing model file, or a bundled style's name -> its shipped network.

    Raises InputError for a missing file or a style without a network.
    """
    p = Path(spec)
    name = str(spec)
    if not p.exists() and not is_path_like(name) and name in styles():
        path = styles()[name].model_path
        if path is None:
            raise InputError(f"style '{name}' has no trained network yet (train one with `nst train --style {name}`)")
        return path
    # a directory, FIFO, device or empty file: each its own message (by stat: nothing is opened)
    return check_input_file(p, "model file", "no such model file")


def demo_content() -> Path:
    """The bundled public-domain photo used by `nst demo` and the examples."""
    return Path(str(resources.files("nst") / "assets" / "rocket.jpg"))
