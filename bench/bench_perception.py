"""Perception speed on this CPU: Whisper tiny.en real-time factor, expression frames per second.

``whisper_tiny_rtf`` = transcription wall time / audio duration on ~20 s of espeak-ng speech (word
timestamps on, model loaded and warmed up first; lower is better, < 1 is faster than real time).
``expression_fps`` = 640x360 frames per second through face detection + expression classification (one
batch of 32 frames, one face each). ``audio_description_rtf`` = prosody + YAMNet time / audio duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

SENTENCES = (
    "Good morning everyone, thank you for coming.",
    "Please send the report to the team before noon.",
    "We will meet again next week to discuss the results.",
    "I am so happy to see you again today.",
    "This is wonderful news for all of us.",
    "The weather was cold and windy all afternoon.",
)


def _best(fn: Callable[[], object], repeats: int = 2) -> float:
    """Best of ``repeats`` wall times: the least disturbed run on a shared machine."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run() -> dict[str, float]:
    import skimage.data

    from saboteur.agents.perception.audio import describe_audio
    from saboteur.agents.perception.expressions import read_expressions
    from saboteur.agents.perception.synth import speak
    from saboteur.agents.perception.transcript import transcribe

    speech = np.concatenate([np.concatenate([speak(s), np.zeros(4000, np.float32)]) for s in SENTENCES])
    duration = speech.size / 16_000
    transcribe(speech[: 3 * 16_000])  # load, convert if needed, compile the word-timing code
    whisper_s = _best(lambda: transcribe(speech))

    describe_audio(speech[: 2 * 16_000])
    audio_s = _best(lambda: describe_audio(speech))

    canvas = np.full((360, 640, 3), 90, dtype=np.uint8)
    face = skimage.data.astronaut()[::2, ::2]  # 256 x 256
    frames = []
    for i in range(32):
        frame = canvas.copy()
        x = 40 + 10 * i
        frame[52:308, x : x + 256] = face
        frames.append(frame)
    read_expressions(frames[:2])
    expression_s = _best(lambda: read_expressions(frames))
    return {
        "whisper_tiny_rtf": round(whisper_s / duration, 4),
        "whisper_audio_s": round(duration, 2),
        "audio_description_rtf": round(audio_s / duration, 4),
        "expression_fps": round(len(frames) / expression_s, 2),
    }


if __name__ == "__main__":
    print(run())
