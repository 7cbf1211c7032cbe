"""Heavy jobs over HTTP: a video with its sound, the bounded queue, a cancel that stops optimize,
the webcam's WebSocket, and `nst serve` itself."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed: pip install 'nst[web]'")

from PIL import Image  # noqa: E402

from nst.web.limits import ServerLimits  # noqa: E402
from tests.conftest import make_clip  # noqa: E402

from .server import Server, png_bytes, running  # noqa: E402

NST = [sys.executable, "-c", "from nst.cli import entry; entry()"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running(ServerLimits(workers=1, queue=1, max_video_seconds=3.0, max_video_side=320)) as s:
        yield s


def test_a_video_job_keeps_its_sound(server: Server, tmp_path: Path) -> None:
    import av

    clip = make_clip(tmp_path / "clip.mp4")
    status, r = server.post("/api/video", {"style": "the_scream", "size": "96"}, {"video": ("clip.mp4",
                                                                                             clip.read_bytes())})
    assert status == 202, r
    s = server.wait(r["job"], timeout=300)
    assert s["state"] == "done" and s["step"] == 48 and s["download"] == "clip_the_scream.mp4", s
    status, headers, body = server.request("GET", f"/api/jobs/{r['job']}/result?download=1")
    assert status == 200
    out = tmp_path / "out.mp4"
    out.write_bytes(body)
    with av.open(str(out)) as c:
        assert c.streams.audio and c.streams.video
        assert max(c.streams.video[0].width, c.streams.video[0].height) == 96
        assert sum(1 for _ in c.decode(video=0)) == 48


def test_video_limits_and_bad_videos(server: Server, tmp_path: Path) -> None:
    long_clip = make_clip(tmp_path / "long.mp4", n=96)  # 4 s at 24 fps
    status, r = server.post("/api/video", {"style": "udnie"}, {"video": ("long.mp4", long_clip.read_bytes())})
    assert status == 400 and r["error"] == "long.mp4: the video is 4.0 s long; this server takes at most 3 s", r
    wide = make_clip(tmp_path / "wide.mp4", n=4, w=480, h=272)
    status, r = server.post("/api/video", {"style": "udnie"}, {"video": ("wide.mp4", wide.read_bytes())})
    assert status == 400 and "takes at most 320 px" in r["error"], r
    status, r = server.post("/api/video", {"style": "udnie"}, {"video": ("notes.mp4", b"not a video at all")})
    assert status == 400 and r["error"].startswith("notes.mp4: not a video file"), r


def test_the_queue_is_bounded_and_cancel_stops_optimize(server: Server) -> None:
    slow = {"style": "udnie", "method": "optimize", "size": "96", "iterations": "300", "coarse_iterations": "0"}
    status, a = server.post("/api/image", slow, {"photo": ("a.png", png_bytes())})
    assert status == 202, a
    server.wait(a["job"], until=("running",))
    status, b = server.post("/api/image", {"style": "the_scream"}, {"photo": ("b.png", png_bytes())})
    assert status == 202, b  # one may wait
    assert server.get_json(f"/api/jobs/{b['job']}")[1]["position"] == 1
    status, c = server.post("/api/image", {"style": "the_scream"}, {"photo": ("c.png", png_bytes())})
    assert status == 503 and c["error"].startswith("the server is busy"), c
    end = time.monotonic() + 120
    while server.get_json(f"/api/jobs/{a['job']}")[1]["step"] < 2:  # optimize is iterating
        assert time.monotonic() < end
        time.sleep(0.1)
    t = time.monotonic()
    assert server.request("POST", f"/api/jobs/{a['job']}/cancel")[0] == 200
    s = server.wait(a["job"], timeout=30)
    assert s["state"] == "cancelled" and s["step"] < 300, s
    assert time.monotonic() - t < 10
    assert server.wait(b["job"])["state"] == "done"  # the worker is free again
    assert server.request("GET", f"/api/jobs/{a['job']}/result")[0] == 404


def test_the_webcam_stream(server: Server) -> None:
    import aiohttp

    frame = io.BytesIO()
    Image.open(io.BytesIO(png_bytes(160, 120))).save(frame, format="JPEG")

    async def talk() -> list[object]:
        got: list[object] = []
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(server.url + "api/camera") as ws:
                hello = await ws.receive_json(timeout=60)
                got.append(hello)
                await ws.send_str(json.dumps({"style": hello["styles"][1], "size": 96}))
                got.append(await ws.receive_json(timeout=60))
                await ws.send_bytes(frame.getvalue())
                got.append(await ws.receive_bytes(timeout=120))
                await ws.send_bytes(b"garbage")
                got.append(await ws.receive_json(timeout=60))
                await ws.send_str(json.dumps({"style": "../../etc/passwd"}))
                got.append(await ws.receive_json(timeout=60))
                await ws.send_str(json.dumps({"size": 10**9}))
                got.append(await ws.receive_json(timeout=60))
                await ws.send_bytes(frame.getvalue())  # still going
                got.append(await ws.receive_bytes(timeout=60))
        return got

    hello, switched, out, bad, bad_style, bad_size, again = asyncio.run(talk())
    assert hello["styles"] and switched == {"style": hello["styles"][1], "size": 96}  # type: ignore[index]
    assert Image.open(io.BytesIO(out)).size == (96, 72)  # type: ignore[arg-type]
    assert bad == {"error": "image data: not an image file (or an unsupported format)"}
    assert bad_style["error"].startswith("style '../../etc/passwd' has no trained network")  # type: ignore[index]
    assert "size must be a whole number between 16 and 640" in bad_size["error"]  # type: ignore[index]
    assert Image.open(io.BytesIO(again)).size == (96, 72)  # type: ignore[arg-type]


def test_nst_serve_warns_for_other_hosts_and_stops_cleanly(tmp_path: Path) -> None:
    p = subprocess.Popen(NST + ["serve", "--host", "0.0.0.0", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.startswith("nst serve: http://0.0.0.0:") and "(Ctrl-C stops it)" in line, line
    finally:
        p.terminate()
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "nst: warning: serving on 0.0.0.0" in err and "--auth" in err and "stopped" in err


@pytest.mark.parametrize("args, message", [
    (["--port", "99999"], "nst: error: --port must be between 0 and 65535, not 99999"),
    (["--max-side", "5"], "nst: error: --max-side must be between 16 and 16384, not 5"),
    (["--workers", "0"], "nst: error: --workers must be between 1 and 8, not 0"),
    (["--auth", ""], "nst: error: --auth must be USER:PASS or a token, not empty"),
])
def test_nst_serve_bad_flags(args: list[str], message: str) -> None:
    r = subprocess.run(NST + ["serve", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == message, r.stderr
