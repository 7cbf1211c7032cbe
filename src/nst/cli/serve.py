"""`nst serve`: the web page (the `nst[web]` extra), on localhost unless told otherwise."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
from typing import Any

from .common import whole_number

LOCAL_HOSTS = ("localhost",)


def add_parsers(sub: Any) -> None:
    from ..web.limits import ServerLimits
    from .options import add_options

    p = sub.add_parser("serve", help="the web page: upload a photo, pick a painting, download the result",
                       description="Serve nst's web page: images (with live progress for optimize), the examine "
                       "grid, video jobs and the browser's webcam. Everything is served from this machine (no "
                       "internet needed). Needs the web extra: pip install 'nst[web]'.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=whole_number, default=7860, help="port (default 7860; 0: any free port)")
    p.add_argument("--auth", default=None, metavar="USER:PASS|TOKEN",
                   help="protect the page: HTTP Basic auth with USER:PASS, or a token the address carries "
                   "(?token=...); needed in practice for any host other than localhost")
    add_options(p.add_argument_group("limits"), ServerLimits)
    p.set_defaults(func=cmd_serve)


def is_local(host: str) -> bool:
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    from ..errors import NSTError, OptionError
    from ..options import build
    from ..web.limits import ServerLimits
    from .options import given

    if not 0 <= args.port <= 65535:
        raise OptionError(f"must be between 0 and 65535, not {args.port}", field="port")
    if args.auth is not None and (not args.auth or args.auth.startswith(":") or args.auth.endswith(":")):
        raise OptionError("must be USER:PASS or a token, not empty", field="auth")
    limits = build(ServerLimits, given(args, [f.name for f in dataclasses.fields(ServerLimits)]))
    try:
        from ..web.app import create_app, serve_forever
    except ImportError as e:
        raise NSTError(f"nst serve needs the web extra ({e.name} is missing): pip install 'nst[web]' "
                       "(scripts/install.sh installs it)") from None
    if not is_local(args.host):
        print(f"nst: warning: serving on {args.host}: other machines can reach this page"
              + ("" if args.auth else "; anyone who can reach it can use it (protect it with --auth USER:PASS)"),
              file=sys.stderr)

    def ready(url: str) -> None:
        token = f"?token={args.auth}" if args.auth and ":" not in args.auth else ""
        print(f"nst serve: {url}{token}  (Ctrl-C stops it)", flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops it like Ctrl-C: jobs cancelled, the private folders deleted

    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(serve_forever(create_app(limits, args.auth), args.host, args.port, ready))
    except OSError as e:
        raise NSTError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    except KeyboardInterrupt:
        print("nst serve: stopped", file=sys.stderr)
    return 0
