"""Prosody of a voice from librosa: pitch, loudness, rate, pauses and voice-quality proxies, as named numbers.

Every value is a plain float (or None when it cannot be measured, e.g. pitch of unvoiced audio), so the
agent's tools and the cache can store them as JSON. Levels are dBFS (0 = full scale); pitch spread is in
semitones, which compares voices of different registers.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.deps import require

if TYPE_CHECKING:
    from numpy.typing import NDArray

HOP_S = 0.010
"""Hop of the loudness frames (10 ms)."""
PITCH_HOP_S = 0.020
"""Hop of the pitch frames (20 ms; pYIN is the slowest step, so it runs at half the loudness rate)."""
SILENCE_DBFS = -60.0
"""Frames quieter than this are silence whatever the clip's level."""
ACTIVE_BELOW_PEAK_DB = 35.0
"""Frames more than this below the clip's loud frames count as pauses."""
MIN_PAUSE_S = 0.2


def _db(values: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    return 20.0 * np.log10(np.maximum(np.asarray(values, dtype=np.float64), 1e-10))


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` is True."""
    flags = np.concatenate([[0], mask.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(flags))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def peak_dbfs(samples: NDArray[np.float32]) -> float:
    """Peak level in dBFS (-200 for digital silence)."""
    return float(_db(np.array([np.max(np.abs(samples)) if samples.size else 0.0]))[0])


def prosody_features(
    samples: NDArray[np.float32], sample_rate: int = 16_000, words: list[dict[str, Any]] | None = None
) -> dict[str, float | None]:
    """Named prosody numbers of a mono clip; ``words`` (Whisper word timings) give the speaking rate."""
    with warnings.catch_warnings():  # librosa warns on clips shorter than its FFT; the numbers stay valid
        warnings.simplefilter("ignore", UserWarning)
        return _prosody(samples, sample_rate, words)


def _prosody(
    samples: NDArray[np.float32], sample_rate: int, words: list[dict[str, Any]] | None
) -> dict[str, float | None]:
    librosa = require("librosa", "the audio tool (prosody)")
    y = np.asarray(samples, dtype=np.float32)
    hop = round(HOP_S * sample_rate)
    rms = librosa.feature.rms(y=y, frame_length=4 * hop, hop_length=hop, center=True)[0]
    level = _db(rms)
    loud = float(np.percentile(level, 95)) if level.size else -200.0
    active = (level > SILENCE_DBFS) & (level > loud - ACTIVE_BELOW_PEAK_DB)
    features: dict[str, float | None] = {
        "duration_s": round(y.size / sample_rate, 3),
        "peak_dbfs": round(peak_dbfs(y), 2),
        "active_s": round(float(active.sum()) * HOP_S, 3),
    }
    if not active.any():
        return features | _empty_voice()
    act = level[active]
    features |= {
        "loudness_dbfs": round(float(_db(np.sqrt(np.mean(rms[active] ** 2)))), 2),
        "loudness_std_db": round(float(np.std(act)), 2),
        "loudness_range_db": round(float(np.percentile(act, 95) - np.percentile(act, 5)), 2),
    }
    features |= _pauses(active)
    features |= _pitch(y, sample_rate, librosa)
    features |= _spectral(y, sample_rate, hop, active, librosa)
    features |= _rate(y, sample_rate, hop, active, words, librosa)
    return features


def _empty_voice() -> dict[str, float | None]:
    names = (
        "loudness_dbfs loudness_std_db loudness_range_db pause_count pause_total_s longest_pause_s "
        "longest_pause_at_s pitch_median_hz pitch_mean_hz pitch_std_st pitch_range_st pitch_slope_st_per_s "
        "pitch_end_slope_st_per_s voiced_fraction jitter_proxy_pct shimmer_proxy_db spectral_centroid_hz "
        "spectral_flatness onset_rate_per_s words_per_s"
    )
    return dict.fromkeys(names.split())


def _pauses(active: NDArray[np.bool_]) -> dict[str, float | None]:
    """Silent gaps of at least 0.2 s between the first and the last active frame."""
    idx = np.flatnonzero(active)
    inner = ~active[idx[0] : idx[-1] + 1]
    gaps = [(s + idx[0], e + idx[0]) for s, e in _runs(inner) if (e - s) * HOP_S >= MIN_PAUSE_S]
    lengths = [(e - s) * HOP_S for s, e in gaps]
    longest = int(np.argmax(lengths)) if lengths else -1
    return {
        "pause_count": float(len(gaps)),
        "pause_total_s": round(float(sum(lengths)), 3),
        "longest_pause_s": round(lengths[longest], 3) if gaps else 0.0,
        "longest_pause_at_s": round(gaps[longest][0] * HOP_S, 2) if gaps else None,
    }


def _pitch(y: NDArray[np.float32], sr: int, librosa: Any) -> dict[str, float | None]:
    hop = round(PITCH_HOP_S * sr)
    f0, voiced, _ = librosa.pyin(
        y, fmin=65.0, fmax=600.0, sr=sr, frame_length=1024, hop_length=hop, center=True
    )
    ok = voiced & np.isfinite(f0)
    out: dict[str, float | None] = {"voiced_fraction": round(float(ok.mean()), 3) if ok.size else 0.0}
    if ok.sum() < 5:
        return out | dict.fromkeys(
            (
                "pitch_median_hz",
                "pitch_mean_hz",
                "pitch_std_st",
                "pitch_range_st",
                "pitch_slope_st_per_s",
                "pitch_end_slope_st_per_s",
                "jitter_proxy_pct",
            )
        )
    hz = f0[ok]
    st = 12.0 * np.log2(hz / 100.0)
    t = np.flatnonzero(ok) * PITCH_HOP_S
    slope = float(np.polyfit(t, st, 1)[0]) if np.ptp(t) > 0 else 0.0
    tail = t >= t[-1] - 0.6  # the last 0.6 s of voicing: the final intonation
    end_slope = (
        float(np.polyfit(t[tail], st[tail], 1)[0]) if tail.sum() >= 5 and np.ptp(t[tail]) > 0 else None
    )
    pairs = ok[1:] & ok[:-1]
    jitter = np.abs(np.diff(f0))[pairs] / f0[1:][pairs] if pairs.any() else np.zeros(0)
    return out | {
        "pitch_median_hz": round(float(np.median(hz)), 1),
        "pitch_mean_hz": round(float(np.mean(hz)), 1),
        "pitch_std_st": round(float(np.std(st)), 2),
        "pitch_range_st": round(float(np.percentile(st, 90) - np.percentile(st, 10)), 2),
        "pitch_slope_st_per_s": round(slope, 2),
        "pitch_end_slope_st_per_s": None if end_slope is None else round(end_slope, 2),
        "jitter_proxy_pct": round(100.0 * float(np.median(jitter)), 2) if jitter.size else None,
    }


def _spectral(
    y: NDArray[np.float32], sr: int, hop: int, active: NDArray[np.bool_], librosa: Any
) -> dict[str, float | None]:
    """Brightness (centroid), noisiness (flatness: breathy or whispered voices are flatter), shimmer proxy."""
    centroid = librosa.feature.spectral_centroid(y=y, sr=sr, n_fft=512, hop_length=hop)[0]
    flatness = librosa.feature.spectral_flatness(y=y, n_fft=512, hop_length=hop)[0]
    n = min(centroid.size, flatness.size, active.size)
    mask = active[:n]
    rms = librosa.feature.rms(y=y, frame_length=4 * hop, hop_length=hop)[0][:n]
    level = _db(rms)
    pairs = mask[1:] & mask[:-1]
    shimmer = np.abs(np.diff(level))[pairs]
    return {
        "spectral_centroid_hz": round(float(np.mean(centroid[:n][mask])), 1),
        "spectral_flatness": round(float(np.mean(flatness[:n][mask])), 4),
        "shimmer_proxy_db": round(float(np.median(shimmer)), 2) if shimmer.size else None,
    }


def _rate(
    y: NDArray[np.float32],
    sr: int,
    hop: int,
    active: NDArray[np.bool_],
    words: list[dict[str, Any]] | None,
    librosa: Any,
) -> dict[str, float | None]:
    """Onsets per active second (a syllable-rate proxy) and, with word timings, words per second."""
    onsets = librosa.onset.onset_detect(y=y, sr=sr, hop_length=hop, units="frames")
    active_s = max(float(active.sum()) * HOP_S, 1e-3)
    rate = {"onset_rate_per_s": round(float(len(onsets)) / active_s, 2), "words_per_s": None}
    if words:
        span = float(words[-1]["end"]) - float(words[0]["start"])
        if span > 0.2:
            rate["words_per_s"] = round(len(words) / span, 2)
    return rate
