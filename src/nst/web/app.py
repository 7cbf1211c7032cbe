"""The aiohttp application: the page, the API, auth, the limits, one-line errors for every bad input.

    GET  /                         the page          GET /static/{app.js,style.css}
    GET  /api/schema               methods, fields, bounds, defaults, styles, limits (from the library)
    GET  /styles/{name}.jpg        a bundled painting's thumbnail
    POST /api/image                photo [+ painting] + style, method, size, options -> a job
    POST /api/examine              photo + size -> a job (every bundled style, tile by tile)
    POST /api/video                video + style, method, size, options -> a job
    GET  /api/jobs/{id}            its state, progress, ETA, tiles       POST /api/jobs/{id}/cancel
    GET  /api/jobs/{id}/preview    the latest intermediate image (optimize)
    GET  /api/jobs/{id}/result     the result (?download=1: as an attachment)
    GET  /api/jobs/{id}/tiles/{n}  one examine tile
    GET  /api/camera               WebSocket: camera frames in, stylised frames out (camera.py)

No route takes a path: files are found through a job (its id is 32 hex digits) or a fixed table.
Every error is a JSON `{"error": "one line"}` with a 4xx/5xx status, and the server keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import BodyPartReader, web

from ..errors import InputError, NSTError, OptionError
from ..registry import styles
from .forms import bundled_style, method_values, parse_size, schema
from .jobs import Busy, Job, JobQueue, one_line
from .limits import ServerLimits
from .work import check_painting, check_photo, check_video, download_name, run_examine, run_image, run_video, safe_name

log = logging.getLogger("nst.web")
QUEUE = web.AppKey("queue", JobQueue)
LIMITS = web.AppKey("limits", ServerLimits)
THUMBS = web.AppKey("thumbs", dict)
STATIC = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}
_STATIC_DIR = resources.files("nst") / "web" / "static"
MAX_FIELDS, MAX_FIELD_BYTES = 64, 4096
_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
            "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TooLarge(InputError):
    """An upload over `max_upload_mb` (refused while it arrives, not after)."""


def error(message: str, status: int, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, headers=_HEADERS)


def refusal(e: BaseException, hide: Path | None = None) -> web.Response:
    """The response for a refused request: the library's one line, a status that says why."""
    status = 413 if isinstance(e, TooLarge) else 503 if isinstance(e, Busy) else 400 if isinstance(
        e, NSTError) else 500
    if status == 500:
        log.exception("unexpected error")
    return error(one_line(e, hide), status, **({"field": e.field} if isinstance(e, OptionError) and e.field else {}))


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return error(e.reason or "error", e.status)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001  (the server keeps running through anything)
        return refusal(e)
    if not resp.prepared:
        for k, v in _HEADERS.items():
            resp.headers.setdefault(k, v)
    return resp


def auth_middleware(secret: str) -> Any:
    """HTTP Basic auth for "USER:PASS", else a token (Bearer header, ?token= once, then a cookie)."""
    basic = ":" in secret

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        given, from_query = "", False
        if basic and header.startswith("Basic "):
            try:
                given = base64.b64decode(header[6:], validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                given = ""
        elif not basic:
            given = header[7:] if header.startswith("Bearer ") else request.cookies.get("nst_token", "")
            if not given and "token" in request.query:
                given, from_query = request.query["token"], True
        if given and hmac.compare_digest(given.encode(), secret.encode()):
            resp = await handler(request)
            if from_query and not resp.prepared:
                resp.set_cookie("nst_token", secret, httponly=True, samesite="Strict")
            return resp
        if basic:
            return web.Response(status=401, text="nst: this server needs a user name and password",
                                headers={"WWW-Authenticate": 'Basic realm="nst"'})
        return error("this server needs its token: open the address `nst serve` printed (it ends in ?token=...)",
                     401)

    return check


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


async def read_form(request: web.Request, job: Job, file_fields: tuple[str, ...]) -> tuple[dict[str, str],
                                                                                          dict[str, Path]]:
    """The multipart form: text fields (small) and files, streamed into the job's upload folder with the
    size limit counted as they arrive. A file's name is reduced to one safe component, in a folder of
    its field's own, so nothing a client names can point anywhere else."""
    limit = request.app[LIMITS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise TooLarge(f"upload too large: {request.content_length / 1e6:.1f} MB (this server takes at most "
                       f"{request.app[LIMITS].max_upload_mb:g} MB)")
    if not request.content_type.startswith("multipart/"):
        raise InputError("expected a form upload (multipart/form-data)")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    files: dict[str, Path] = {}
    total, parts = 0, 0
    while (part := await reader.next()) is not None:
        parts += 1
        if parts > MAX_FIELDS or not isinstance(part, BodyPartReader) or not part.name:
            raise InputError("malformed form: too many or unnamed fields")
        if part.filename is not None:
            if part.name not in file_fields or part.name in files:
                raise InputError(f"unexpected file field {part.name!r}")
            folder = job.inputs / part.name
            folder.mkdir(mode=0o700)
            path = folder / safe_name(part.filename, part.name)
            with path.open("xb") as f:
                while chunk := await part.read_chunk(256 * 1024):
                    total += len(chunk)
                    if total > limit:
                        raise TooLarge(f"upload too large: more than {request.app[LIMITS].max_upload_mb:g} MB "
                                       "(this server's limit)")
                    f.write(chunk)
            if path.stat().st_size == 0:  # no file chosen: browsers send an empty part
                path.unlink()
                folder.rmdir()
                continue
            files[part.name] = path
        else:
            data = await part.read_chunk(MAX_FIELD_BYTES + 1)
            if len(data) > MAX_FIELD_BYTES or await part.read_chunk(1):
                raise InputError(f"form field {part.name!r} is too long")
            try:
                fields[part.name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"form field {part.name!r} is not text (UTF-8)") from None
    return fields, files


def style_specs(fields: dict[str, str], files: dict[str, Path]) -> list[str]:
    """The style: an uploaded painting, else a gallery style by name."""
    if "painting" in files:
        fields.pop("style", None)
        return [str(files["painting"])]
    name = fields.pop("style", "").strip()
    if not name:
        raise InputError("no style: pick a painting from the gallery or upload one")
    return [bundled_style(name)]


async def _job_request(request: web.Request, kind: str, file_fields: tuple[str, ...],
                       prepare: Callable[[Job, dict[str, str], dict[str, Path]], Awaitable[Callable[[Job], None]]]
                       ) -> web.Response:
    queue = request.app[QUEUE]
    job = queue.new(kind)
    try:
        fields, files = await read_form(request, job, file_fields)
        run = await prepare(job, fields, files)
        queue.submit(job, run)
    except (asyncio.CancelledError, KeyboardInterrupt):
        queue.discard(job)
        raise
    except Exception as e:  # noqa: BLE001
        queue.discard(job)
        return refusal(e, job.inputs)
    return web.json_response({"job": job.id, "kind": kind}, status=202)


async def post_image(request: web.Request) -> web.Response:
    limits = request.app[LIMITS]

    async def prepare(job: Job, fields: dict[str, str], files: dict[str, Path]) -> Callable[[Job], None]:
        if "photo" not in files:
            raise InputError("no photo: choose or drop a photo first")
        specs = style_specs(fields, files)
        method, size = fields.pop("method", "") or "auto", parse_size(fields.pop("size", None), limits)
        name, values = method_values(method, specs, fields, limits)
        photo = await in_thread(check_photo, files["photo"], size)
        if "painting" in files:
            await in_thread(check_painting, files["painting"])
        job.download_name = download_name(files["photo"].name, specs, ".png")
        job.info = name
        return lambda j: run_image(j, photo, name, specs, values)

    return await _job_request(request, "image", ("photo", "painting"), prepare)


async def post_examine(request: web.Request) -> web.Response:
    limits = request.app[LIMITS]

    async def prepare(job: Job, fields: dict[str, str], files: dict[str, Path]) -> Callable[[Job], None]:
        if "photo" not in files:
            raise InputError("no photo: choose or drop a photo first")
        size = min(parse_size(fields.pop("size", None) or "256", limits), 512)
        if fields:
            raise OptionError(f"unknown option(s) {', '.join(sorted(fields))}")
        await in_thread(check_photo, files["photo"], size)
        job.download_name = download_name(files["photo"].name, ["sheet"], ".png")
        return lambda j: run_examine(j, files["photo"], size)

    return await _job_request(request, "examine", ("photo",), prepare)


async def post_video(request: web.Request) -> web.Response:
    limits = request.app[LIMITS]

    async def prepare(job: Job, fields: dict[str, str], files: dict[str, Path]) -> Callable[[Job], None]:
        if "video" not in files:
            raise InputError("no video: choose or drop a video file first")
        specs = style_specs(fields, files)
        method, size = fields.pop("method", "") or "auto", parse_size(fields.pop("size", None) or "360", limits)
        name, values = method_values(method, specs, fields, limits)
        await in_thread(check_video, files["video"], limits)
        if "painting" in files:
            await in_thread(check_painting, files["painting"])
        job.download_name = download_name(files["video"].name, specs, ".mp4")
        job.info = name
        return lambda j: run_video(j, files["video"], name, specs, values, size)

    return await _job_request(request, "video", ("video", "painting"), prepare)


def _job(request: web.Request) -> Job:
    job = request.app[QUEUE].get(request.match_info["id"])
    if job is None:
        raise web.HTTPNotFound(reason=f"no such job (results are kept {request.app[LIMITS].keep_minutes:g} minutes)")
    return job


async def job_status(request: web.Request) -> web.Response:
    job = _job(request)
    return web.json_response(job.status(request.app[QUEUE].position(job)))


async def job_cancel(request: web.Request) -> web.Response:
    job = _job(request)
    request.app[QUEUE].cancel(job)
    return web.json_response(job.status())


async def job_preview(request: web.Request) -> web.Response:
    job = _job(request)
    if job.preview is None:
        raise web.HTTPNotFound(reason="no preview yet")
    return web.Response(body=job.preview, content_type="image/jpeg")


async def job_result(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    if job.state != "done" or job.result is None or not job.result.is_file():
        raise web.HTTPNotFound(reason="no result (yet)")
    headers = {"Content-Disposition": f'attachment; filename="{safe_name(job.download_name)}"'} \
        if request.query.get("download") else {}
    return web.FileResponse(job.result, headers=headers)


async def job_tile(request: web.Request) -> web.StreamResponse:
    job, n = _job(request), int(request.match_info["n"])
    if not 0 <= n < len(job.tiles):
        raise web.HTTPNotFound(reason="no such tile")
    return web.FileResponse(job.tiles[n]["path"])


async def get_schema(request: web.Request) -> web.Response:
    return web.json_response(schema(request.app[LIMITS]))


def _thumbnail(name: str) -> bytes:
    import io

    from ..io.image import load_image, tensor_to_pil

    buf = io.BytesIO()
    tensor_to_pil(load_image(styles()[name].path, size=360)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


async def style_thumb(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in styles():
        raise web.HTTPNotFound(reason="no such style")
    cache = request.app[THUMBS]
    if name not in cache:
        cache[name] = await in_thread(_thumbnail, name)
    return web.Response(body=cache[name], content_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


async def static(request: web.Request) -> web.Response:
    name = request.match_info.get("name", "index.html")
    if name not in STATIC:
        raise web.HTTPNotFound(reason="not found")
    return web.Response(body=(_STATIC_DIR / name).read_bytes(), content_type=STATIC[name], charset="utf-8")


def create_app(limits: ServerLimits | None = None, auth: str | None = None) -> web.Application:
    """The application; its job queue starts with it and is closed (folders deleted) when it stops."""
    from .camera import add_camera

    limits = limits or ServerLimits()
    app = web.Application(middlewares=[errors_middleware] + ([auth_middleware(auth)] if auth else []),
                          client_max_size=MAX_FIELDS * MAX_FIELD_BYTES)
    app[LIMITS] = limits
    app[THUMBS] = {}

    async def start(app: web.Application) -> None:
        app[QUEUE] = JobQueue(limits)

    async def stop(app: web.Application) -> None:
        await in_thread(app[QUEUE].close)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_get("/", static)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/schema", get_schema)
    app.router.add_get("/styles/{name}.jpg", style_thumb)
    app.router.add_post("/api/image", post_image)
    app.router.add_post("/api/examine", post_examine)
    app.router.add_post("/api/video", post_video)
    app.router.add_get("/api/jobs/{id}", job_status)
    app.router.add_post("/api/jobs/{id}/cancel", job_cancel)
    app.router.add_get("/api/jobs/{id}/preview", job_preview)
    app.router.add_get("/api/jobs/{id}/result", job_result)
    app.router.add_get(r"/api/jobs/{id}/tiles/{n:\d{1,4}}", job_tile)
    add_camera(app, limits)
    return app


async def serve_forever(app: web.Application, host: str, port: int, ready: Callable[[str], None]) -> None:
    """Listen on host:port, call `ready(url)` once listening, serve until cancelled, then clean up."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        addr = runner.addresses[0]
        shown = f"[{addr[0]}]" if ":" in str(addr[0]) else addr[0]
        ready(f"http://{shown}:{addr[1]}/")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
