"""Live camera: stylise a webcam, a video file or a stream frame by frame, show it and/or record it.

The classic OpenCV demo opened the webcam, ran one feed-forward model per frame and cycled to the
next model on a key press. We do the same behind the Stylizer seam, and add:

- a latest-frame policy: a capture thread keeps only the newest frame, so when stylisation is
  slower than the camera the loop skips stale frames instead of falling ever further behind
  (latency stays one stylisation, not a growing queue). Skipped frames are counted;
- one pure key handler (`handle_key`) that the window loop and headless runs share; headless runs
  (and tests) drive it with a key schedule {source frame index: key};
- an overlay (style name, measured loop fps, strength), a side-by-side view with the original,
  PNG snapshots and recording to a video file through `nst.video.VideoWriter`;
- a headless mode that needs no GUI at all (works with opencv-python-headless).

Frame sources:
- cameras (an index such as 0) and URL streams are *live*: latest-frame policy, no pacing;
- video files are read frame by frame without dropping anything by default (the recording then
  holds every frame of the file, stylised, at the file's frame rate). With `realtime=True` a file is
  paced at its own fps and treated like a camera (latest-frame policy), which simulates a webcam.

The recording is in source time: each stylised frame carries its source frame's timestamp, so a
frame skipped by the latest-frame policy leaves a gap in which the previous frame stays on screen
and the file plays at the real speed (a variable-frame-rate file then; no encoder time is spent on
repeats). It has one frame per stylised frame (every frame of a file read without `realtime`),
plus the last one again at the stop time when frames were skipped just before a stop.
Snapshots (key s) are PNGs of the view without the overlay.

Pixel convention: OpenCV delivers BGR uint8 H x W x 3; `CaptureSource` converts it to RGB at the
edge. Views (what is shown or recorded) are RGB uint8 H x W x 3 numpy arrays; the stylizer sees
1 x 3 x H x W float32 RGB tensors in [0, 1]. Only the window converts back to BGR for imshow.

    sources.py  FrameSource, CaptureSource, ArraySource, FrameGrabber (the latest-frame policy)
    keys.py     handle_key, LoopState, key schedules
    view.py     sizing, side by side, overlay, the window
    record.py   the recording (through nst.video's writer and worker) and snapshots
    (the styles cycled through are an nst.bank.StylizerBank, shared with the web page)
    loop.py     LiveLoop.step (one frame) and run_camera (the loop around it)

The library never prints or exits: it reports through `on_event` callbacks and returns
`CameraStats`; errors are `nst.errors` exceptions with one-line messages.
"""

from ..bank import StylizerBank
from .keys import ESC, KEY_HELP, Action, Key, KeySchedule, LoopState, handle_key, key_code, parse_key_schedule
from .loop import CameraEvent, CameraOptions, CameraStats, LiveLoop, run_camera
from .record import Recorder, snapshot_path
from .sources import DEFAULT_FPS, ArraySource, CapturedFrame, CaptureSource, FrameGrabber, FrameSource, open_source
from .view import OpenCVWindow, Window, compose, draw_overlay, fit, frame_size, gui_available, resize_frame

__all__ = ["ESC", "KEY_HELP", "DEFAULT_FPS", "Action", "Key", "KeySchedule", "LoopState", "handle_key", "key_code",
           "parse_key_schedule", "CameraEvent", "CameraOptions", "CameraStats", "LiveLoop", "run_camera", "Recorder",
           "snapshot_path", "ArraySource", "CapturedFrame", "CaptureSource", "FrameGrabber", "FrameSource",
           "open_source", "OpenCVWindow", "Window", "compose", "draw_overlay", "fit", "frame_size", "gui_available",
           "resize_frame", "StylizerBank"]
