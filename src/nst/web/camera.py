"""The webcam: the browser sends camera frames over a WebSocket, the server sends them back stylised.

The page sends one frame (JPEG) and waits for its answer before it sends the next, so the picture
lags by one stylisation, never more (the CLI camera's latest-frame policy, seen from the browser).
A text message `{"style": NAME, "size": N}` switches the style or the size; every shipped network is
built in the background when the first stream opens, so a switch never waits for weights. Bad
frames get a one-line `{"error": ...}` and the stream goes on.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from aiohttp import WSMsgType, web

from ..errors import NSTError
from .jobs import one_line
from .limits import ServerLimits
from .work import CAMERA_MAX_SIDE, CameraStyles

STYLES = web.AppKey("camera_styles", list)
POOL = web.AppKey("camera_pool", ThreadPoolExecutor)
ACTIVE = web.AppKey("camera_active", list)  # [streams open now]
CAM_LIMITS = web.AppKey("camera_limits", ServerLimits)
MAX_FRAME_BYTES = 4 * 1024 * 1024


def _styles(app: web.Application) -> CameraStyles:
    holder = app[STYLES]
    if not holder:
        holder.append(CameraStyles())
    cams: CameraStyles = holder[0]
    return cams


def _settings(text: str, cams: CameraStyles, style: int, size: int) -> tuple[int, int]:
    try:
        msg = json.loads(text)
    except ValueError:
        raise NSTError("camera: expected a JSON message like {\"style\": \"the_scream\"}") from None
    if not isinstance(msg, dict):
        raise NSTError("camera: expected a JSON object")
    if "style" in msg:
        style = cams.index(str(msg["style"]))
    if "size" in msg:
        value = msg["size"]
        if isinstance(value, bool) or not isinstance(value, int) or not 16 <= value <= CAMERA_MAX_SIDE:
            raise NSTError(f"camera: size must be a whole number between 16 and {CAMERA_MAX_SIDE}, not {value!r}")
        size = value
    return style, size


async def camera_stream(request: web.Request) -> web.StreamResponse:
    app, limits = request.app, request.app[CAM_LIMITS]
    active = app[ACTIVE]
    if active[0] >= limits.cameras:
        return web.json_response({"error": f"the server is busy: {limits.cameras} webcam stream(s) are already "
                                  "running"}, status=503)
    cams = _styles(app)
    if not cams.names:
        return web.json_response({"error": "no trained network ships with this installation"}, status=503)
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, heartbeat=30)
    await ws.prepare(request)
    active[0] += 1
    cams.warm()
    loop = asyncio.get_running_loop()
    style, size = 0, 320
    try:
        await ws.send_json({"styles": cams.names, "style": cams.names[style], "size": size})
        async for msg in ws:
            try:
                if msg.type == WSMsgType.TEXT:
                    style, size = _settings(msg.data, cams, style, size)
                    await ws.send_json({"style": cams.names[style], "size": size})
                elif msg.type == WSMsgType.BINARY:
                    out = await loop.run_in_executor(app[POOL], cams.frame, msg.data, style, size)
                    await ws.send_bytes(out)
            except NSTError as e:
                await ws.send_json({"error": one_line(e)})
    finally:
        active[0] -= 1
    return ws


def add_camera(app: web.Application, limits: ServerLimits) -> None:
    app[STYLES] = []
    app[ACTIVE] = [0]
    app[CAM_LIMITS] = limits
    app[POOL] = ThreadPoolExecutor(max_workers=max(1, limits.cameras), thread_name_prefix="nst-web-camera")

    async def stop(app: web.Application) -> None:
        app[POOL].shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(stop)
    app.router.add_get("/api/camera", camera_stream)


__all__ = ["add_camera", "camera_stream"]

