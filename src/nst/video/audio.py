"""Sound: carry the first audio track of a file into the output, interleaved with the video.

Packets are copied when the output container accepts the codec and the whole clip is kept;
otherwise (a trimmed clip, or e.g. AAC into WebM) the audio is decoded, cut to the sample and
re-encoded (AAC, or Opus for WebM). Audio is muxed as the video reaches its time, so memory stays
flat for long clips.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np

from ..errors import InputError
from .common import av_message, demux_resilient, warn

#: Audio codecs copied without re-encoding, per output extension (None: whatever the muxer takes).
AUDIO_COPY: dict[str, set[str] | None] = {".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
                                          ".mkv": None, ".webm": {"opus", "vorbis"}, ".gif": set()}
#: Audio encoder used when the source's codec cannot be copied.
AUDIO_ENCODER = {".mp4": "aac", ".mkv": "aac", ".webm": "libopus"}

#: (output time in seconds, packet), or None: the encoder waits until the video gets further.
_Timed = tuple[float, Any]


class AudioTrack:
    """Carries the first audio stream of `src` into `out`: packet copy or decode-cut-re-encode.

    Times are seconds on the output's timeline; `start` is the source time that maps to 0.
    `stream` is None when `src` has no sound (then nothing is added to `out`).
    """

    def __init__(self, src: Path, out: Any, ext: str, start: float, trim: bool) -> None:
        try:
            self.inp = av.open(str(src))
        except (av.FFmpegError, OSError) as e:
            raise InputError(f"{src}: cannot read audio ({av_message(e)})") from None
        self.stream = self.inp.streams.audio[0] if self.inp.streams.audio else None
        self.start = start               # source time (s) of output time 0
        self.end: float | None = None    # output time (s) to cut at; set by VideoWriter.close() when trimming
        self.limit = 0.0                 # output time (s) the video has reached
        self.trim = trim
        self.done = False
        self.pending: _Timed | None = None
        self.description = ""
        if self.stream is None:
            self.inp.close()
            return
        name = self.stream.codec_context.name
        allowed = AUDIO_COPY[ext]
        self.copy = not trim and (name in out.supported_codecs if allowed is None else name in allowed)
        if self.copy:
            self._add_copied_stream(out, self.stream)
        else:
            self._add_encoded_stream(out, self.stream, AUDIO_ENCODER[ext])
        self.packets: Iterator[_Timed | None] = self._copied() if self.copy else self._encoded()

    def _add_copied_stream(self, out: Any, ist: Any) -> None:
        self.ostream = out.add_stream_from_template(ist)
        self.shift = round(self.start / ist.time_base) if ist.time_base else 0
        self.description = f"{ist.codec_context.name} (copied)"

    def _add_encoded_stream(self, out: Any, ist: Any, enc: str) -> None:
        icc = ist.codec_context
        codec = av.Codec(enc, "w")
        rate = icc.sample_rate or 48000
        if codec.audio_rates and rate not in codec.audio_rates:
            rate = 48000 if 48000 in codec.audio_rates else max(codec.audio_rates)
        layout = icc.layout.name if icc.layout else "stereo"
        if enc == "libopus" and icc.channels > 2:
            layout = "stereo"
        self.ostream = out.add_stream(enc, rate=rate)
        self.ostream.codec_context.layout = layout
        self.ostream.codec_context.format = codec.audio_formats[0].name if codec.audio_formats else "fltp"
        self.ostream.time_base = Fraction(1, rate)
        self.rate, self.layout = rate, layout
        self.description = f"{icc.name} -> {self.ostream.codec_context.name} (re-encoded)"

    def _demux(self) -> Iterator[Any]:
        return demux_resilient(self.inp, self.stream, "audio: giving up after repeated read errors")

    def _copied(self) -> Iterator[_Timed]:
        for packet in self._demux():
            if packet.size == 0 or packet.dts is None:
                continue
            if packet.pts is not None:
                packet.pts -= self.shift
            packet.dts -= self.shift
            packet.stream = self.ostream
            t = float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base)
            yield t, packet

    def _decoded(self) -> Iterator[Any]:
        for packet in self._demux():
            try:
                frames = packet.decode()
            except av.FFmpegError as e:
                warn(f"audio: skipped a corrupt packet ({av_message(e)})")
                continue
            yield from frames

    def _cut(self) -> Iterator[Any | None]:
        """Decoded frames cut to [start, start + end) in source time, with pts cleared for the resampler.
        Yields None to pause while the source is ahead of `self.limit`: the end is only known at
        close(), and samples already inside the encoder could not be taken back."""
        src_next: float | None = None
        for fr in self._decoded():
            sr = fr.sample_rate
            t0 = float(fr.pts * fr.time_base) if fr.pts is not None else (src_next or 0.0)
            src_next = t0 + fr.samples / sr
            while self.end is None and src_next - self.start > self.limit:
                yield None
            end = None if self.end is None else self.start + self.end  # source time
            if end is not None and t0 >= end:
                return
            a = math.ceil(round((self.start - t0) * sr, 6)) if t0 < self.start else 0
            b = fr.samples if end is None else min(fr.samples, max(0, math.ceil(round((end - t0) * sr, 6))))
            if a >= b:
                continue
            if a > 0 or b < fr.samples:
                fr = _slice_audio(fr, a, b)
            fr.pts = None
            yield fr

    def _encoded(self) -> Iterator[_Timed | None]:
        """Cut, resample and re-encode; pts count samples at the output rate."""
        resampler = av.AudioResampler(format=self.ostream.codec_context.format, layout=self.layout, rate=self.rate,
                                      frame_size=self.ostream.codec_context.frame_size or None)
        written = 0
        for fr in self._cut():
            if fr is None:
                yield None
                continue
            for r in resampler.resample(fr):
                r.pts, written = written, written + r.samples
                for p in self.ostream.encode(r):
                    yield float(p.pts * p.time_base) if p.pts is not None else written / self.rate, p
        for r in resampler.resample(None):
            r.pts, written = written, written + r.samples
            for p in self.ostream.encode(r):
                yield written / self.rate, p
        for p in self.ostream.encode(None):
            yield written / self.rate, p

    def mux_until(self, out: Any, t: float | None) -> None:
        """Mux audio up to output time `t` (seconds); None: everything left (up to `end` if set)."""
        if self.stream is None or self.done:
            return
        self.limit = math.inf if t is None else t
        while True:
            if self.pending is None:
                try:
                    self.pending = next(self.packets)
                except StopIteration:
                    self.done = True
                    return
                if self.pending is None:  # the encoder waits for more video
                    return
            pt, packet = self.pending
            if t is not None and pt > t:
                return
            out.mux(packet)
            self.pending = None

    def close(self) -> None:
        if self.stream is not None:
            self.inp.close()


def _slice_audio(fr: Any, a: int, b: int) -> Any:
    """Samples [a, b) of an audio frame, as a new frame with the same format and layout."""
    arr = fr.to_ndarray()
    arr = arr[:, a:b] if fr.format.is_planar else arr[:, a * len(fr.layout.channels):b * len(fr.layout.channels)]
    new = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fr.format.name, layout=fr.layout.name)
    new.sample_rate = fr.sample_rate
    return new
