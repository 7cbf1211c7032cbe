"""The server's limits: what one upload, one image and one video may be, and how many jobs may wait.

An options dataclass like the methods' own: `nst serve` generates its flags from these fields and
`nst.options.check` validates them, with the same field-named messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..options import MAX_SIDE, MIN_SIDE, check, option


@dataclass
class ServerLimits:
    """Limits `nst serve` enforces on every request (the image guard, `nst.io.image.MAX_PIXELS`, too)."""

    max_upload_mb: float = option(25.0, help="largest upload in MB (a photo, a painting or a video)", min=0.01,
                                  max=4096.0)
    max_side: int = option(1024, help="largest output long side in pixels on the page", min=MIN_SIDE, max=MAX_SIDE)
    max_iterations: int = option(500, help="most optimize iterations one request may ask for", min=1,
                                 max=1_000_000)
    max_video_seconds: float = option(60.0, help="longest video accepted, in seconds", min=0.1, max=86400.0)
    max_video_side: int = option(1920, help="largest video long side accepted, in pixels", min=MIN_SIDE,
                                 max=MAX_SIDE)
    workers: int = option(1, help="heavy jobs (image, examine, video) run this many at a time", min=1, max=8)
    queue: int = option(8, help="jobs that may wait for a worker; more are refused with a message", min=0,
                        max=1000)
    keep_minutes: float = option(30.0, help="a finished job's result is kept this long, then deleted", min=0.1,
                                 max=10080.0)
    cameras: int = option(2, help="webcam streams served at once", min=0, max=16)

    def __post_init__(self) -> None:
        check(self)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
