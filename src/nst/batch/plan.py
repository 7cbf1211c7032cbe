"""What a batch does: the inputs found in a folder (walked recursively) or a list file, and the output
each one maps to under OUT, mirroring the layout. Every check that can fail before any work is here."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, OptionError, OutputError

#: Image files a batch stylises (by extension, case-insensitive).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
#: Video files a batch sends through the video pipeline.
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg")
#: --format: the image output formats (extension without the dot); "same" keeps each input's.
IMAGE_FORMATS = ("png", "jpg", "webp", "tif")
VIDEO_OUT_FORMATS = ("mp4", "mkv", "webm")

#: Files nst keeps in OUT for the batch itself (never inputs, never outputs).
MANIFEST_NAME = ".nst-batch-manifest.json"
REPORT_NAME = "nst-batch-report.jsonl"


@dataclass(frozen=True)
class Item:
    """One input and where its result goes. `rel` is the output's path relative to OUT (the manifest key)."""

    src: Path
    out: Path
    rel: str
    kind: str  # "image" or "video"
    missing: str | None = None  # a list-file entry that cannot be read: reported as failed, never run


@dataclass
class Plan:
    items: list[Item]
    out_dir: Path
    ignored: int = 0                      # files in IN that are neither images nor videos
    notes: list[str] = field(default_factory=list)  # one-line warnings (duplicate list entries, ...)


def kind_of(path: Path) -> str | None:
    ext = path.suffix.lower()
    return "image" if ext in IMAGE_EXTS else "video" if ext in VIDEO_EXTS else None


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def _walk(root: Path, skip: Path) -> tuple[list[Path], int]:
    """Media files under `root` (sorted; hidden files and folders and `skip` left out; symlinked folders
    are not followed, so a link loop cannot trap the walk) and the count of other files."""
    found, ignored = [], 0
    for d, dirs, files in os.walk(root, followlinks=False):
        dpath = Path(d)
        dirs[:] = sorted(x for x in dirs if not x.startswith(".") and (dpath / x).resolve() != skip)
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = dpath / name
            if kind_of(p) is None:
                ignored += 1
            else:
                found.append(p)
    return found, ignored


def _read_list(list_file: Path, notes: list[str]) -> list[Path]:
    """Paths in a list file: one a line, relative to the list file's folder; blank lines and # comments skipped.
    A repeated entry is noted and taken once."""
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{list_file}: not a text list of files (one path a line)") from None
    except OSError as e:
        raise InputError(f"{list_file}: cannot read ({e.strerror or e})") from None
    seen: dict[Path, int] = {}
    paths = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(line).expanduser()
        p = p if p.is_absolute() else list_file.parent / p
        key = Path(os.path.abspath(p))
        if key in seen:
            notes.append(f"{list_file}:{n}: {line} is already on line {seen[key]}; taken once")
            continue
        seen[key] = n
        paths.append(key)
    return paths


def _output_rel(rel: Path, kind: str, image_format: str, video_format: str) -> Path:
    if kind == "video":
        return rel.with_suffix("." + video_format)
    if image_format == "same":
        ext = rel.suffix.lower()
        return rel.with_suffix(ext if ext in (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff") else ".png")
    return rel.with_suffix("." + image_format)


def check_out_dir(out: Path) -> None:
    """OUT is a folder nst can write in (created if missing, with its parents)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder (OUT must be a folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # really try: os.access says yes to root on read-only mounts
            pass
    except OSError as e:
        raise OutputError(f"{out}: cannot write there ({e.strerror or e})") from None


def plan(inp: str | os.PathLike, out: str | os.PathLike, image_format: str = "png",
         video_format: str = "mp4") -> Plan:
    """The batch's items, or an error naming what is wrong: IN missing or empty, OUT a file, unwritable, or
    inside IN, two inputs that would write the same output (a.jpg and a.png -> a.png)."""
    if image_format not in IMAGE_FORMATS + ("same",):
        raise OptionError(f"must be one of {', '.join(IMAGE_FORMATS + ('same',))}, not {image_format!r}",
                          field="format")
    if video_format not in VIDEO_OUT_FORMATS:
        raise OptionError(f"must be one of {', '.join(VIDEO_OUT_FORMATS)}, not {video_format!r}",
                          field="video_format")
    src = Path(inp)
    out_dir = Path(out)
    if not src.exists():
        raise InputError(f"{src}: no such folder or list file")
    out_abs = out_dir.resolve()
    src_abs = src.resolve()
    notes: list[str] = []
    ignored = 0
    if src.is_dir():
        if out_abs == src_abs or _inside(out_abs, src_abs):
            raise OutputError(f"{out_dir}: is inside the input folder {src}; choose an output folder outside it")
        files, ignored = _walk(src_abs, out_abs)
        root = src_abs
        pairs = [(p, p.relative_to(root)) for p in files]
        if not pairs:
            raise InputError(f"{src}: no images or videos found (looked for {', '.join(IMAGE_EXTS + VIDEO_EXTS)})")
    elif src.is_file():
        if kind_of(src) is not None:
            raise InputError(f"{src}: is an image or video, not a folder or a list file; use nst image or nst video")
        entries = _read_list(src, notes)
        if not entries:
            raise InputError(f"{src}: the list names no files")
        parents = [os.path.dirname(str(p)) for p in entries]
        root = Path(os.path.commonpath(parents))
        pairs = [(p, p.relative_to(root)) for p in entries]
    else:
        raise InputError(f"{src}: is not a folder or a list file")
    check_out_dir(out_dir)

    items: list[Item] = []
    taken: dict[str, Path] = {}
    for p, rel in pairs:
        kind = kind_of(p)
        missing = None
        if kind is None:
            kind, missing = "image", "not an image or video file nst knows (by its extension)"
        elif not p.is_file():
            missing = "no such file" if not p.exists() else "not a regular file"
        out_rel = _output_rel(rel, kind, image_format, video_format)
        key = out_rel.as_posix()
        if key in taken:
            raise OutputError(f"{taken[key]} and {p} would both be written to {out_dir / out_rel}; rename one "
                              "(or keep the input formats with --format same)")
        taken[key] = p
        out_p = out_abs / out_rel
        if out_p.resolve() == p.resolve():
            raise OutputError(f"{out_p}: output path is the same as an input; refusing to overwrite it")
        items.append(Item(p, out_p, key, kind, missing))
    return Plan(items, out_dir, ignored, notes)


__all__ = ["Item", "Plan", "plan", "kind_of", "check_out_dir", "IMAGE_EXTS", "VIDEO_EXTS", "IMAGE_FORMATS",
           "VIDEO_OUT_FORMATS", "MANIFEST_NAME", "REPORT_NAME"]
