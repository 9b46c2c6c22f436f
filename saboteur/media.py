"""Media decoding with PyAV (no ffmpeg binary): 16 kHz mono audio, frames at chosen times, limits.

A media file that cannot be used raises :class:`MediaError` with a one-line reason ("no audio stream",
"corrupt or truncated file: moov atom not found", "duration 4.0 h exceeds the limit of 3.0 h"); the
perception tools turn that reason into unavailable evidence, so bad input never crashes a run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from saboteur.config import MediaLimits
from saboteur.errors import SaboteurError

if TYPE_CHECKING:
    from numpy.typing import NDArray

SAMPLE_RATE = 16_000
"""Sample rate of every decoded audio track (what Whisper and YAMNet expect)."""

_IMAGE_FORMATS = ("image2", "_pipe", "webp", "apng")
_DECODE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, RuntimeError, EOFError)


class MediaError(SaboteurError):
    """A media file (or one of its streams) that cannot be used; the message is the reason."""


class MediaInfo(BaseModel):
    """What probing a file found, before anything is decoded."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    path: str
    """The file that was probed."""
    kind: Literal["video", "audio", "image"]
    """``video`` (with or without sound), ``audio`` (no picture) or ``image`` (one still picture)."""
    container: str
    """Container format as PyAV names it (``mov,mp4,m4a,3gp,3g2,mj2``, ``wav``, ``png_pipe``...)."""
    size_bytes: int
    """File size."""
    duration_s: float | None
    """Duration in seconds (None for still images and streams that do not say)."""
    has_audio: bool
    """Whether the file has an audio stream."""
    has_video: bool
    """Whether the file has a picture (video stream or still image)."""
    width: int | None = None
    """Frame width in pixels."""
    height: int | None = None
    """Frame height in pixels."""
    fps: float | None = None
    """Average frame rate of the video stream."""


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded audio track: 16 kHz mono float32 samples in [-1, 1]."""

    samples: NDArray[np.float32]
    sample_rate: int
    warning: str | None = None
    """Set when decoding stopped early on damaged data (the samples before the damage are kept)."""

    @property
    def duration_s(self) -> float:
        return float(self.samples.size) / self.sample_rate


@dataclass(frozen=True)
class Frame:
    """One decoded picture: RGB uint8 [H, W, 3] at time ``t`` seconds."""

    t: float
    image: NDArray[np.uint8]


def resolve_media(media: str | Path, manifest_dir: str | Path | None = None) -> Path:
    """A manifest's ``media`` value as a path: relative paths are relative to the manifest's folder."""
    path = Path(media).expanduser()
    if not path.is_absolute() and manifest_dir is not None:
        path = Path(manifest_dir) / path
    return path


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file (streamed, so large files do not fill memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise MediaError("media decoding needs PyAV: pip install 'av>=12'") from exc
    return av


def _describe(exc: BaseException) -> str:
    """FFmpeg's own words (``Invalid data found when processing input``), without errno and path."""
    text = getattr(exc, "strerror", None) or str(exc).strip() or exc.__class__.__name__
    return str(text).split("\n")[0][:200]


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.1f} s"


class Media:
    """A media file opened for the perception tools: probed once, decoded lazily, checked against limits."""

    def __init__(self, path: str | Path, limits: MediaLimits | None = None) -> None:
        self.path = Path(path).expanduser()
        self.limits = limits or MediaLimits()
        self._audio: DecodedAudio | None = None

    def __repr__(self) -> str:
        return f"Media({str(self.path)!r})"

    @cached_property
    def sha256(self) -> str:
        """Content hash (the cache key of every tool result)."""
        self._check_file()
        return file_sha256(self.path)

    def _check_file(self) -> int:
        if not self.path.exists():
            raise MediaError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise MediaError(f"{self.path}: not a regular file")
        size = self.path.stat().st_size
        if size == 0:
            raise MediaError("empty file (zero length)")
        if size > self.limits.max_bytes:
            raise MediaError(
                f"file of {size / 1e9:.2f} GB exceeds the limit of {self.limits.max_bytes / 1e9:.2f} GB"
            )
        return size

    def _open(self) -> Any:
        av = _av()
        try:
            return av.open(str(self.path), mode="r", metadata_errors="ignore")
        except _DECODE_ERRORS as exc:
            raise MediaError(
                f"not a readable media file (corrupt, truncated or not media: {_describe(exc)})"
            ) from exc

    @cached_property
    def info(self) -> MediaInfo:
        """Probe the container; raises MediaError for unusable files (the reason is the message)."""
        size = self._check_file()
        with self._open() as container:
            audio = list(container.streams.audio)
            video = [s for s in container.streams.video if not _is_cover_art(s)]
            if not audio and not video:
                raise MediaError("the file has no audio or video stream")
            fmt = str(container.format.name)
            duration = _duration(container)
            width = height = None
            fps = None
            if video:
                width = int(video[0].codec_context.width or 0) or None
                height = int(video[0].codec_context.height or 0) or None
                rate = video[0].average_rate
                fps = float(rate) if rate else None
        kind: Literal["video", "audio", "image"]
        if video and not audio and any(tag in fmt for tag in _IMAGE_FORMATS):
            kind, duration = "image", None
        else:
            kind = "video" if video else "audio"
        info = MediaInfo(
            path=str(self.path),
            kind=kind,
            container=fmt,
            size_bytes=size,
            duration_s=duration,
            has_audio=bool(audio),
            has_video=bool(video),
            width=width,
            height=height,
            fps=fps,
        )
        self._check_limits(info)
        return info

    def _check_limits(self, info: MediaInfo) -> None:
        limits = self.limits
        if info.duration_s is not None and info.duration_s > limits.max_duration_s:
            raise MediaError(
                f"duration {_hours(info.duration_s)} exceeds the limit of {_hours(limits.max_duration_s)}"
            )
        w, h = info.width or 0, info.height or 0
        if max(w, h) > limits.max_side or w * h > limits.max_pixels:
            raise MediaError(
                f"resolution {w}x{h} exceeds the limit "
                f"({limits.max_side} px per side, {limits.max_pixels / 1e6:.0f} Mpx)"
            )

    def audio(self) -> DecodedAudio:
        """The whole audio track as 16 kHz mono float32 (decoded once, then kept)."""
        if self._audio is None:
            self._audio = self._decode_audio()
        return self._audio

    def _decode_audio(self) -> DecodedAudio:
        info = self.info
        if not info.has_audio:
            raise MediaError("the file has no audio stream")
        av = _av()
        max_samples = int(self.limits.max_duration_s * SAMPLE_RATE)
        chunks: list[NDArray[np.float32]] = []
        total = 0
        warning = None
        with self._open() as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                        total += chunks[-1].size
                    if total > max_samples:
                        raise MediaError(
                            f"audio longer than the limit of {_hours(self.limits.max_duration_s)}"
                        )
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
            except _DECODE_ERRORS as exc:
                if not chunks:
                    raise MediaError(f"the audio stream cannot be decoded: {_describe(exc)}") from exc
                warning = f"audio decoding stopped early on damaged data: {_describe(exc)}"
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        if samples.size == 0:
            raise MediaError("the audio stream is empty (zero length)")
        np.clip(samples, -1.0, 1.0, out=samples)
        return DecodedAudio(samples=samples, sample_rate=SAMPLE_RATE, warning=warning)

    def frames(self, times: list[float], max_side: int = 640) -> list[Frame]:
        """Frames nearest to ``times`` (seconds), scaled to fit ``max_side``; one frame for an image.

        Short clips are decoded in one sequential pass; long ones seek to each time, so that sampling a
        few frames of a two-hour film does not decode all of it.
        """
        info = self.info
        if not info.has_video:
            raise MediaError("the file has no video stream")
        targets = sorted({round(max(0.0, t), 3) for t in times}) or [0.0]
        if info.kind == "image":
            targets = [0.0]
        with self._open() as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            try:
                if info.duration_s is None or info.duration_s <= 120 or len(targets) > 64:
                    picked = _sequential(container, stream, targets, max_side)
                else:
                    picked = _seeking(container, stream, targets, max_side)
            except _DECODE_ERRORS as exc:
                raise MediaError(f"the video stream cannot be decoded: {_describe(exc)}") from exc
        if not picked:
            raise MediaError("the video stream has no decodable frame (zero length or corrupt)")
        return picked


def _is_cover_art(stream: Any) -> bool:
    """An mp3/m4a's embedded album picture is a 'video stream' of one frame, not a picture of the clip."""
    disposition = getattr(stream, "disposition", 0)
    try:
        return bool(int(disposition) & 0x400)  # AV_DISPOSITION_ATTACHED_PIC
    except (TypeError, ValueError):
        return False


def _duration(container: Any) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000.0
    best = None
    for stream in container.streams:
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
            best = seconds if best is None else max(best, seconds)
    return best


def _frame_time(frame: Any, index: int, stream: Any) -> float:
    if frame.time is not None:
        return float(frame.time)
    rate = stream.average_rate
    return index / float(rate) if rate else float(index)


def _sequential(container: Any, stream: Any, targets: list[float], max_side: int) -> list[Frame]:
    picked: list[Frame] = []
    pending = list(targets)
    last: tuple[float, Any] | None = None
    for index, frame in enumerate(container.decode(stream)):
        t = _frame_time(frame, index, stream)
        last = (t, frame)
        if pending and t + 1e-3 >= pending[0]:
            picked.append(Frame(t=t, image=_to_rgb(frame, max_side)))
            while pending and t + 1e-3 >= pending[0]:
                pending.pop(0)
        if not pending:
            break
    if pending and last is not None and (not picked or picked[-1].t != last[0]):
        picked.append(Frame(t=last[0], image=_to_rgb(last[1], max_side)))  # times past the end
    return picked


def _seeking(container: Any, stream: Any, targets: list[float], max_side: int) -> list[Frame]:
    picked: list[Frame] = []
    for target in targets:
        container.seek(int(target / float(stream.time_base)), stream=stream, backward=True)
        last: tuple[float, Any] | None = None
        for index, frame in enumerate(container.decode(stream)):
            last = (_frame_time(frame, index, stream), frame)
            if last[0] + 1e-3 >= target:
                break
        if last is not None and all(f.t != last[0] for f in picked):
            picked.append(Frame(t=last[0], image=_to_rgb(last[1], max_side)))
    return picked


def _to_rgb(frame: Any, max_side: int) -> NDArray[np.uint8]:
    width, height = int(frame.width), int(frame.height)
    scale = min(1.0, max_side / max(width, height))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    image: NDArray[np.uint8] = frame.to_ndarray(format="rgb24", width=w, height=h)
    return image


def uniform_times(duration_s: float | None, count: int) -> list[float]:
    """``count`` times at the centres of equal slices of the clip (0.0 for an image or unknown length)."""
    if not duration_s or duration_s <= 0 or count <= 0:
        return [0.0]
    return [float((i + 0.5) * duration_s / count) for i in range(count)]
