"""OUT/.nst-batch-manifest.json: which outputs are complete, under which settings.

An output counts as complete only when it was written atomically and recorded here with the hash of
the batch's settings, the identity of its input (size and modification time) and its own size. A rerun
skips exactly those; changed settings (another hash) redo everything. `owned` lists every output this
batch has set out to write, so a rerun may replace them, and never a file that was there before.
The file itself is rewritten atomically (at most every `every` seconds, and at the end): a crash
loses at most the records of the last seconds, whose outputs are then redone, never half-trusted.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_write
from .plan import MANIFEST_NAME, Item

VERSION = 1


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:32]


def input_identity(p: Path) -> dict[str, int]:
    st = p.stat()
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


class Manifest:
    def __init__(self, out_dir: Path, settings: dict[str, Any], every: float = 2.0) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.hash = settings_hash(settings)
        self.settings = settings
        self.every = every
        self.entries: dict[str, dict[str, Any]] = {}
        self.owned: set[str] = set()
        self.notes: list[str] = []
        self._last = 0.0
        self._dirty = False
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") != VERSION:
                    raise ValueError("another version")
                self.entries = {str(k): dict(v) for k, v in data.get("entries", {}).items()}
                self.owned = {str(r) for r in data.get("owned", [])} | set(self.entries)
            except (ValueError, TypeError, AttributeError, OSError):
                self.notes.append(f"{self.path}: unreadable; every output is redone (existing files not "
                                  "recorded there are left alone)")
                self.entries, self.owned = {}, set()

    def complete(self, item: Item) -> bool:
        e = self.entries.get(item.rel)
        if e is None or e.get("settings") != self.hash:
            return False
        try:
            if e.get("input") != input_identity(item.src) or item.out.stat().st_size != e.get("bytes"):
                return False
        except OSError:
            return False
        return True

    def own(self, rels: list[str]) -> None:
        """Record that this batch is about to write these outputs (written before any work starts)."""
        self.owned.update(rels)
        self.flush(force=True)

    def record(self, item: Item, seconds: float) -> None:
        self.entries[item.rel] = {"settings": self.hash, "input": input_identity(item.src),
                                  "bytes": item.out.stat().st_size, "seconds": round(seconds, 4)}
        self._dirty = True
        self.flush()

    def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (not self._dirty or now - self._last < self.every):
            return
        data = {"version": VERSION, "settings": self.settings, "settings_hash": self.hash,
                "owned": sorted(self.owned), "entries": self.entries}
        with atomic_write(self.path) as f:
            f.write(json.dumps(data, sort_keys=True, default=str).encode())
        self._last, self._dirty = now, False


__all__ = ["Manifest", "settings_hash", "input_identity", "VERSION"]
