"""The server over real HTTP: the shared registry and options, jobs, limits, and hostile requests.

Offline and small (128 px images, the shipped networks, a 2 s clip). Every bad request must get a
one-line JSON error with a 4xx status, the same message the library (and so the CLI) gives, and the
server must go on serving."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed: pip install 'nst[web]'")

from PIL import Image  # noqa: E402

from nst import options as O  # noqa: E402
from nst.errors import NSTError  # noqa: E402
from nst.io.image import load_image  # noqa: E402
from nst.methods import method_names, method_options  # noqa: E402
from nst.web.forms import HIDDEN  # noqa: E402
from nst.web.limits import ServerLimits  # noqa: E402

from .server import Server, bomb_png, png_bytes, running  # noqa: E402

LIMITS = ServerLimits(max_upload_mb=1.0, max_side=256, workers=1, queue=2, max_video_seconds=5.0,
                      max_video_side=320, max_iterations=300)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running(LIMITS) as s:
        yield s


def alive(server: Server) -> None:
    status, schema = server.get_json("/api/schema")
    assert status == 200 and schema["styles"]


def image(server: Server, fields: dict[str, str] | None = None, photo: tuple[str, bytes] | None = None,
          **files: tuple[str, bytes]) -> tuple[int, dict]:
    return server.post("/api/image", {"style": "the_scream", "size": "128", **(fields or {})},
                       {"photo": photo or ("photo.png", png_bytes()), **files})


def library_message(fn: object, *args: object) -> str:
    try:
        fn(*args)  # type: ignore[operator]
    except NSTError as e:
        return str(e)
    raise AssertionError("expected an error")


def test_schema_comes_from_the_registry_and_the_options_metadata(server: Server) -> None:
    status, schema = server.get_json("/api/schema")
    assert status == 200
    assert [m["name"] for m in schema["methods"]] == method_names()
    adain = next(m for m in schema["methods"] if m["name"] == "adain")
    strength = next(f for f in adain["fields"] if f["name"] == "strength")
    meta = next(f for f in O.fields(method_options("adain", {})) if f.name == "strength").metadata
    assert (strength["min"], strength["max"], strength["default"]) == (meta["min"], meta["max"], 1.0)
    names = {f["name"] for m in schema["methods"] for f in m["fields"]}
    assert not names & HIDDEN  # no field that names a server path or the hardware
    assert schema["size"]["max"] == LIMITS.max_side
    assert any(s["net"] for s in schema["styles"]) and all(s["title"] and s["artist"] for s in schema["styles"])


def test_an_image_job_gives_the_full_size_png(server: Server) -> None:
    status, r = image(server)
    assert status == 202, r
    s = server.wait(r["job"])
    assert s["state"] == "done" and s["info"] == "net", s
    status, headers, body = server.request("GET", f"/api/jobs/{r['job']}/result?download=1")
    assert status == 200 and headers["content-disposition"] == 'attachment; filename="photo_the_scream.png"'
    img = Image.open(io.BytesIO(body))
    assert img.format == "PNG" and max(img.size) == 128
    assert not (server.root / r["job"] / "in").exists()  # the uploads went when the job ended


def test_a_thumbnail_for_every_bundled_style(server: Server) -> None:
    status, schema = server.get_json("/api/schema")
    for s in schema["styles"][:3]:
        status, headers, body = server.request("GET", f"/styles/{s['name']}.jpg")
        assert status == 200 and headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(body)).size) == 360


def test_a_corrupt_photo_gets_the_clis_message(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    truncated = png_bytes()[:300]
    for name, data in [("holiday.jpg", b"this is not an image"), ("cut.png", truncated)]:
        status, r = image(server, photo=(name, data))
        (tmp_path / name).write_bytes(data)
        monkeypatch.chdir(tmp_path)
        assert status == 400 and r["error"] == library_message(load_image, name), r
        assert "\n" not in r["error"] and str(server.root) not in r["error"]
    alive(server)


def test_a_decompression_bomb_is_refused(server: Server) -> None:
    status, r = image(server, photo=("bomb.png", bomb_png()))
    assert status == 400 and r["error"] == "bomb.png: image too large (more than 100 megapixels)", r
    alive(server)


def test_an_oversized_upload_is_refused_while_it_arrives(server: Server) -> None:
    status, r = image(server, photo=("big.png", os.urandom(int(1.2 * 1024 * 1024))))
    assert status == 413 and "upload too large" in r["error"], r
    assert list(server.root.iterdir()) == [p for p in server.root.iterdir() if (p / "result.png").exists()
                                           or not any(p.iterdir())]  # nothing of it was kept
    alive(server)


@pytest.mark.parametrize("fields, field, message", [
    ({"strength": "3"}, "strength", None),
    ({"strength": "abc"}, "strength", "strength must be a number, not 'abc'"),
    ({"strength": "nan"}, "strength", "strength must be a finite number, not nan"),
    ({"size": "-5"}, "size", "size must be between 16 and 16384, not -5"),
    ({"size": "1e9"}, "size", "size must be between 16 and 16384, not 1000000000"),
    ({"size": "2048"}, "size", "size must be at most 256 on this server, not 2048"),
    ({"size": "12.5"}, "size", "size must be a whole number, not 12.5"),
    ({"method": "bogus"}, "method", None),
    ({"preserve_color": "sepia"}, "preserve_color", None),
    ({"method": "optimize", "iterations": "1000000"}, "iterations", "iterations must be at most 300 on this server, "
     "not 1000000"),
    ({"method": "optimize", "multiscale": "maybe"}, "multiscale", "multiscale must be true or false, not 'maybe'"),
    ({"method": "adain", "iterations": "5"}, "iterations", "iterations does not apply to method adain"),
])
def test_bad_form_values_get_a_message_naming_the_field(server: Server, fields: dict, field: str,
                                                         message: str | None) -> None:
    status, r = image(server, fields)
    assert status == 400 and r.get("field") == field, r
    if message is None:  # the library's own text, word for word
        values = {k: (3.0 if v == "3" else v) for k, v in fields.items() if k not in ("method",)}
        expected = library_message(method_options, fields.get("method", "net"), values) if field != "method" \
            else library_message(__import__("nst").methods.get_method, "bogus")
        assert r["error"] == expected
    else:
        assert r["error"] == message
    alive(server)


def test_fields_that_name_server_paths_are_refused(server: Server) -> None:
    for key in ("model", "device", "engine", "frames_dir", "../x"):
        status, r = image(server, {key: "/etc/passwd"})
        assert status == 400 and "unknown option" in r["error"], (key, r)
    status, r = image(server, {"style": "/etc/passwd"})
    assert status == 400 and r["error"].startswith("unknown style '/etc/passwd'")
    status, r = image(server, {"style": "../styles/udnie"})
    assert status == 400 and r["error"].startswith("unknown style")


def test_upload_names_with_paths_stay_in_the_job_folder(server: Server, tmp_path: Path) -> None:
    for name in ("../../../../tmp/nst-escape.png", "/tmp/nst-escape.png", "..\\..\\nst-escape.png", "..", ""):
        status, r = image(server, photo=(name, png_bytes()))
        assert status == 202, (name, r)
        assert server.wait(r["job"])["state"] == "done"
    assert not Path("/tmp/nst-escape.png").exists() and not (server.root.parent / "nst-escape.png").exists()


@pytest.mark.parametrize("path", [
    "/static/../../../../etc/passwd", "/static/..%2F..%2F..%2Fetc%2Fpasswd", "/static/%2Fetc%2Fpasswd",
    "/styles/..%2F..%2F..%2Fetc%2Fpasswd.jpg", "/styles/%2Fetc%2Fpasswd.jpg", "/api/jobs/..%2F..%2Fetc%2Fpasswd",
    "/api/jobs/../../etc/passwd/result", "/api/jobs/%2Fetc%2Fpasswd/result", "//etc/passwd",
    "/api/jobs/00000000000000000000000000000000/tiles/0", "/static/app.js/../../web/app.py",
])
def test_no_path_outside_the_job_folders_is_served(server: Server, path: str) -> None:
    status, _, body = server.request("GET", path)
    assert status in (400, 404), (path, status)
    assert b"root:" not in body and b"import" not in body
    alive(server)


def test_wrong_kinds_of_request(server: Server) -> None:
    status, _, body = server.request("POST", "/api/image", b'{"photo": "x"}', {"Content-Type": "application/json"})
    assert status == 400 and b"expected a form upload" in body
    status, r = server.post("/api/image", {"photo": "not a file", "style": "udnie"})
    assert status == 400 and r["error"] == "no photo: choose or drop a photo first"
    status, r = server.post("/api/image", {"style": b"\xff\xfe"}, {"photo": ("p.png", png_bytes())})  # type: ignore
    assert status == 400 and "not text" in r["error"]
    status, r = server.post("/api/image", {"style": "x" * 5000}, {"photo": ("p.png", png_bytes())})
    assert status == 400 and "too long" in r["error"]
    status, r = server.post("/api/image", {"style": "udnie"}, {"photo": ("p.png", png_bytes()),
                                                               "other": ("x.png", b"x")})
    assert status == 400 and r["error"] == "unexpected file field 'other'"
    status, _, _ = server.request("GET", "/api/image")
    assert status == 405
    status, _, _ = server.request("POST", "/api/jobs/zz/cancel")
    assert status == 404
    alive(server)


def test_a_painting_of_ones_own(server: Server) -> None:
    status, r = image(server, {"style": ""}, painting=("my painting.png", png_bytes(96, 96, seed=3)))
    assert status == 202, r
    s = server.wait(r["job"])
    assert s["state"] == "done" and s["info"] == "adain" and s["download"] == "photo_my_painting.png", s
    status, r = image(server, {"style": ""}, painting=("bad.png", b"nope"))
    assert status == 400 and r["error"] == "bad.png: not an image file (or an unsupported format)"


def test_examine_renders_every_style_tile_by_tile(server: Server) -> None:
    from nst.registry import styles

    status, r = server.post("/api/examine", {"size": "64"}, {"photo": ("photo.png", png_bytes(96, 72))})
    assert status == 202, r
    s = server.wait(r["job"], timeout=300)
    assert s["state"] == "done", s
    assert [t["style"] for t in s["tiles"]] == list(styles())
    status, headers, body = server.request("GET", f"/api/jobs/{r['job']}/tiles/3")
    assert status == 200 and max(Image.open(io.BytesIO(body)).size) == 64
    assert server.request("GET", f"/api/jobs/{r['job']}/tiles/99")[0] == 404


def test_auth_basic_and_token() -> None:
    with running(ServerLimits(), auth="ann:secret") as s:
        assert s.request("GET", "/api/schema")[0] == 401
        bad = "Basic " + base64.b64encode(b"ann:wrong").decode()
        assert s.request("GET", "/api/schema", headers={"Authorization": bad})[0] == 401
        good = "Basic " + base64.b64encode(b"ann:secret").decode()
        assert s.request("GET", "/api/schema", headers={"Authorization": good})[0] == 200
    with running(ServerLimits(), auth="t0ken") as s:
        assert s.request("GET", "/")[0] == 401
        status, headers, _ = s.request("GET", "/?token=t0ken")
        assert status == 200 and "nst_token=t0ken" in headers["set-cookie"]
        assert s.request("GET", "/api/schema", headers={"Cookie": "nst_token=t0ken"})[0] == 200
        assert s.request("GET", "/api/schema", headers={"Authorization": "Bearer t0ken"})[0] == 200


def test_the_private_folder_is_deleted_at_shutdown() -> None:
    with running(ServerLimits()) as s:
        root = s.root
        status, r = image(s)
        assert status == 202 and root.is_dir() and oct(root.stat().st_mode & 0o777) == "0o700"
        s.wait(r["job"])
    assert not root.exists()
