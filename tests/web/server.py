"""Helpers for the web tests: a real server on a free port in a thread, and raw HTTP requests
(hand-built multipart bodies, so a hostile file name or field reaches the server exactly as written)."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import uuid
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from nst.web.limits import ServerLimits


@dataclass
class Server:
    url: str
    app: Any

    @property
    def root(self) -> Path:
        from nst.web.app import QUEUE

        return Path(self.app[QUEUE].root)

    @property
    def queue(self) -> Any:
        from nst.web.app import QUEUE

        return self.app[QUEUE]

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
        """One raw request: `path` is sent exactly as given (no normalisation of ../ or %2F)."""
        u = urlsplit(self.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def get_json(self, path: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", path)
        return status, json.loads(body)

    def post(self, path: str, fields: dict[str, str] | None = None,
             files: dict[str, tuple[str, bytes]] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body, ctype = multipart(fields or {}, files or {})
        status, _, data = self.request("POST", path, body, {"Content-Type": ctype, **(headers or {})})
        return status, json.loads(data)

    def wait(self, job: str, timeout: float = 120, until: tuple[str, ...] = ("done", "error", "cancelled")) -> Any:
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status, s = self.get_json(f"/api/jobs/{job}")
            assert status == 200, s
            if s["state"] in until:
                return s
            time.sleep(0.1)
        raise AssertionError(f"job {job} still {s['state']} after {timeout} s")


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode() + \
            (value if isinstance(value, bytes) else str(value).encode()) + b"\r\n"
    for name, (filename, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@contextmanager
def running(limits: ServerLimits | None = None, auth: str | None = None) -> Iterator[Server]:
    """A server on 127.0.0.1 and a free port, in its own thread and event loop; stopped (and its private
    folder deleted) on exit."""
    from nst.web.app import create_app, serve_forever

    app = create_app(limits or ServerLimits(), auth)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)

        def up(url: str) -> None:
            box["url"] = url
            ready.set()

        box["task"] = loop.create_task(serve_forever(app, "127.0.0.1", 0, up))
        try:
            loop.run_until_complete(box["task"])
        except asyncio.CancelledError:
            pass
        except BaseException as e:  # noqa: BLE001
            box["error"] = e
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(60), "the server did not start"
    if "error" in box:
        raise box["error"]
    try:
        yield Server(box["url"], app)
    finally:
        loop.call_soon_threadsafe(box["task"].cancel)
        thread.join(60)


def png_bytes(w: int = 160, h: int = 120, seed: int = 0) -> bytes:
    import io

    from PIL import Image

    from tests.conftest import make_photo

    buf = io.BytesIO()
    Image.fromarray(make_photo(h, w, seed)).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(w: int = 20000, h: int = 20000) -> bytes:
    """A tiny PNG whose header claims w x h pixels (400 MP): the decompression-bomb guard's case."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
