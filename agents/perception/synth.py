"""Clips made on the spot: speech from espeak-ng, encoded with PyAV together with still pictures.

The tests, the benchmark and the offline demo need real media without shipping any: espeak-ng speaks a
known sentence (so word error rates can be measured), a real photo (e.g. scikit-image's astronaut) is the
picture, and PyAV writes an H.264/AAC mp4 (or any container it knows) from them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from saboteur.agents.perception.deps import require
from saboteur.errors import SaboteurError
from saboteur.media import SAMPLE_RATE, Media

if TYPE_CHECKING:
    from numpy.typing import NDArray


_AUDIO_CODECS = {
    ".wav": "pcm_s16le",
    ".flac": "flac",
    ".mp3": "libmp3lame",
    ".ogg": "libopus",
    ".opus": "libopus",
}


def speak(text: str, speed_wpm: int = 150, voice: str = "en-us", pitch: int = 50) -> NDArray[np.float32]:
    """``text`` spoken by espeak-ng, as 16 kHz mono float32."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SaboteurError("speech synthesis needs espeak-ng: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        subprocess.run(
            [binary, "-v", voice, "-s", str(speed_wpm), "-p", str(pitch), "-w", str(wav), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return Media(wav).audio().samples


def write_clip(
    path: str | Path,
    images: Sequence[NDArray[np.uint8]] | None,
    audio: NDArray[np.float32] | None,
    fps: float = 10.0,
    duration_s: float | None = None,
    sample_rate: int = SAMPLE_RATE,
    video_codec: str = "libx264",
    audio_codec: str | None = None,
) -> Path:
    """Encode pictures (shown one after another, equally long) and/or mono audio into ``path``.

    The video lasts ``duration_s`` (default: the audio's length, or one second per picture); picture
    pictures are scaled to the first one's size, cropped to even sides as H.264 wants. The audio codec
    follows the file name (PCM for ``.wav``, FLAC, MP3, Opus for ``.ogg``/``.opus``, AAC otherwise)
    unless ``audio_codec`` is given.
    """
    av = require("av", "writing clips")
    out_path = Path(path)
    length = duration_s or (audio.size / sample_rate if audio is not None else float(len(images or [])))
    with av.open(str(out_path), mode="w") as container:
        video = audio_stream = None
        if images:
            h, w = (images[0].shape[0] // 2) * 2, (images[0].shape[1] // 2) * 2
            video = container.add_stream(video_codec, rate=round(fps))
            video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        if audio is not None:
            codec = audio_codec or _AUDIO_CODECS.get(out_path.suffix.lower(), "aac")
            audio_stream = container.add_stream(codec, rate=sample_rate, layout="mono")
        if video is not None and images:
            n_frames = max(1, round(length * fps))
            for i in range(n_frames):
                picture = images[min(len(images) - 1, i * len(images) // n_frames)]
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
                if (frame.width, frame.height) != (w, h):
                    frame = frame.reformat(width=w, height=h)
                frame.pts = i
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
        if audio_stream is not None and audio is not None:
            samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
            block = 1024
            for start in range(0, samples.size, block):
                chunk = samples[start : start + block][None, :]
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="flt", layout="mono")
                frame.sample_rate = sample_rate
                frame.pts = start
                container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))
    return out_path
