"""Video files: decode -> stylise in batches -> encode in presentation order, sound carried over.

Like the rest of the library it never prints: it raises InputError / OutputError / OptionError with
one-line messages, reports progress as `nst.progress.Progress` events, and reports recoverable
problems (a corrupt packet skipped, sound that cannot go into a GIF) as `VideoWarning`s through the
`warnings` module.

    source.py        probe, read_frames (PyAV decode, rotation, timestamps)
    writer.py        VideoWriter (H.264 / VP9 / GIF, atomic), Worker (the background writer thread)
    audio.py         the sound track: packet copy, or decode-cut-re-encode
    resume.py        OUT.nst-work/: saved frames under a fingerprint of the settings
    pipeline.py      stylize_video
    frames2video.py  a folder of frames -> a video
"""

from ..io.frames import arrays_to_tensor, tensor_to_arrays
from .common import VideoWarning
from .frames2video import FRAME_EXTS, frames_to_video, list_frames, natural_key
from .pipeline import OrderedSink, VideoOptions, VideoResult, stylize_video
from .resume import WORK_SUFFIX, fingerprint, work_dir_for
from .source import SourceFrame, VideoInfo, probe, read_frames
from .writer import VIDEO_CODECS, VIDEO_FORMATS, VideoWriter, Worker

__all__ = ["VideoWriter", "VideoInfo", "VideoOptions", "VideoResult", "VideoWarning", "OrderedSink", "probe",
           "read_frames", "stylize_video", "frames_to_video", "list_frames", "natural_key", "work_dir_for",
           "arrays_to_tensor", "tensor_to_arrays", "VIDEO_FORMATS", "VIDEO_CODECS", "FRAME_EXTS",
           "WORK_SUFFIX", "SourceFrame", "Worker", "fingerprint"]
