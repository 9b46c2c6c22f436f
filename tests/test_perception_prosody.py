"""Prosody numbers and YAMNet's front end on signals whose answers are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")

from saboteur.agents.perception.prosody import peak_dbfs, prosody_features
from saboteur.agents.perception.yamnet import PATCH_FRAMES, log_mel_patches

SR = 16_000


def _tone(freq_start: float, freq_end: float, seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    freq = freq_start * (freq_end / freq_start) ** (t / seconds)  # exponential glide: linear in semitones
    phase = 2 * np.pi * np.cumsum(freq) / SR
    return (amplitude * np.sin(phase)).astype(np.float32)


def test_steady_tone_pause_then_rising_tone() -> None:
    """1 s at 200 Hz, 0.5 s of silence, 1 s gliding up one octave from 200 Hz (12 semitones per second)."""
    signal = np.concatenate(
        [_tone(200, 200, 1.0, 0.5), np.zeros(SR // 2, np.float32), _tone(200, 400, 1.0, 0.5)]
    )
    p = prosody_features(signal, SR)
    assert p["duration_s"] == pytest.approx(2.5)
    assert p["peak_dbfs"] == pytest.approx(20 * np.log10(0.5), abs=0.1)
    assert p["loudness_dbfs"] == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.5)  # sine RMS
    assert p["pause_count"] == 1
    assert p["longest_pause_s"] == pytest.approx(0.5, abs=0.05)
    assert p["longest_pause_at_s"] == pytest.approx(1.0, abs=0.05)
    assert p["active_s"] == pytest.approx(2.0, abs=0.06)
    assert p["pitch_median_hz"] == pytest.approx(200 * 2 ** (1 / 24), rel=0.08)  # between the two halves
    assert p["pitch_end_slope_st_per_s"] == pytest.approx(12.0, rel=0.15)
    # half the track at 0 st, half spread evenly over 0-12 st: p10 = 0, p90 = 12 * 0.8 = 9.6 st
    assert p["pitch_range_st"] == pytest.approx(9.6, abs=1.0)
    assert p["words_per_s"] is None  # no word timings given


def test_speaking_rate_from_word_timings() -> None:
    words = [{"start": 0.5, "end": 0.8}, {"start": 0.9, "end": 1.2}, {"start": 1.4, "end": 2.5}]
    p = prosody_features(_tone(150, 150, 3.0, 0.3), SR, words)
    assert p["words_per_s"] == pytest.approx(3 / 2.0)


def test_silence_has_no_voice() -> None:
    p = prosody_features(np.zeros(SR, np.float32), SR)
    assert peak_dbfs(np.zeros(10, np.float32)) == pytest.approx(-200.0)
    assert p["active_s"] == 0.0 and p["pitch_median_hz"] is None and p["loudness_dbfs"] is None


def test_yamnet_patches_are_096_s_every_048_s() -> None:
    patches = log_mel_patches(np.zeros(3 * SR, np.float32) + 0.01)
    frames = 1 + (3 * SR - 512) // 160  # 512-sample FFT frames (25 ms window inside) every 10 ms
    assert patches.shape == (1 + (frames - PATCH_FRAMES) // 48, 1, 96, 64)
    short = log_mel_patches(np.zeros(100, np.float32))
    assert short.shape == (1, 1, 96, 64)
