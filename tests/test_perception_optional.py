"""The optional perception backends: faster-whisper transcripts and on-screen text (OCR)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
jiwer = pytest.importorskip("jiwer")

from typer.testing import CliRunner  # noqa: E402

from saboteur.agents.perception.cache import ToolCache, cache_key  # noqa: E402
from saboteur.agents.perception.deps import install_hint, missing  # noqa: E402
from saboteur.agents.perception.synth import speak, write_clip  # noqa: E402
from saboteur.agents.perception.tools import PerceptionConfig, frames_tool, transcript_tool  # noqa: E402
from saboteur.agents.perception.transcript import VERSION  # noqa: E402
from saboteur.cli import app  # noqa: E402
from saboteur.media import Media  # noqa: E402

SENTENCE = "I am so happy to see you again today. This is wonderful news for all of us."
WORD = "PLANET"


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("optional")


@pytest.fixture(scope="module")
def speech(workdir: Path) -> Path:
    return write_clip(workdir / "speech.wav", None, speak(SENTENCE))


@pytest.fixture(scope="module")
def poster(workdir: Path) -> Path:
    """A dark frame with one large white word on it."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 360), (25, 30, 40))
    ImageDraw.Draw(image).text((60, 120), WORD, fill=(250, 250, 250), font=ImageFont.load_default(size=100))
    path = workdir / "poster.png"
    image.save(path)
    return path


def test_faster_whisper_transcribes_like_whisper(speech: Path, workdir: Path) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("whisper")
    cache = str(workdir / "cache")
    fast = transcript_tool(speech, PerceptionConfig(asr="faster-whisper", cache_dir=cache))
    assert fast.available, fast.reason
    assert fast.features["model"] == "faster-whisper-tiny.en"
    wer = jiwer.wer(_words(SENTENCE), _words(fast.text))
    assert wer <= 0.2, fast.text
    assert fast.features["language"] == "en"
    assert 0.0 < fast.quality <= 1.0
    # the whisper backend is a different cache entry with the same keys at every level
    slow = transcript_tool(speech, PerceptionConfig(asr="whisper", cache_dir=cache))
    assert slow.features["model"] == "whisper-tiny.en"
    assert set(fast.features) == set(slow.features)
    assert set(fast.features["segments"][0]) == set(slow.features["segments"][0])
    assert set(fast.features["words"][0]) == set(slow.features["words"][0])
    assert len(fast.features["words"]) == len(SENTENCE.split())
    starts = np.array([w["start"] for w in fast.features["words"]])
    assert np.all(np.diff(starts) >= 0) and starts[-1] < 6.0


def test_cli_asr_option(speech: Path, workdir: Path) -> None:
    pytest.importorskip("faster_whisper")
    runner = CliRunner()
    cache = workdir / "cli-cache"
    args = ["perceive", str(speech), "--tools", "transcript", "--cache-dir", str(cache)]
    result = runner.invoke(app, [*args, "--asr", "faster-whisper", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert jiwer.wer(_words(SENTENCE), _words(data["transcript"]["text"])) <= 0.2
    # the command stored a faster-whisper transcript under the faster-whisper key, and nothing else
    key = cache_key(
        Media(speech).sha256, "transcript", VERSION, {"model": "tiny.en", "asr": "faster-whisper"}
    )
    stored = ToolCache(cache).get("transcript", key)
    assert stored is not None and stored.features["model"] == "faster-whisper-tiny.en"
    other = cache_key(Media(speech).sha256, "transcript", VERSION, {"model": "tiny.en", "asr": "whisper"})
    assert ToolCache(cache).get("transcript", other) is None
    bad = runner.invoke(app, [*args, "--asr", "vosk"])
    assert bad.exit_code == 2
    assert "--asr must be one of whisper, faster-whisper" in bad.output


def test_ocr_reads_a_word_on_a_frame(poster: Path, workdir: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    pytest.importorskip("ai_edge_litert")
    cache = str(workdir / "cache")
    evidence = frames_tool(poster, PerceptionConfig(ocr=True, n_frames=1, cache_dir=cache))
    assert evidence.available, evidence.reason
    rows = evidence.features["text_on_screen"]
    assert [row["text"] for row in rows] == [WORD]
    assert rows[0]["score"] > 0.9
    assert f'text on screen: "{WORD}"' in evidence.text
    plain = frames_tool(poster, PerceptionConfig(ocr=False, n_frames=1, cache_dir=cache))
    assert "text_on_screen" not in plain.features
    assert WORD not in plain.text


def test_cli_ocr_flag(poster: Path, workdir: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    pytest.importorskip("ai_edge_litert")
    args = [
        "perceive",
        str(poster),
        "--tools",
        "frames",
        "--frames",
        "1",
        "--cache-dir",
        str(workdir / "cache"),
    ]
    result = CliRunner().invoke(app, [*args, "--ocr"])
    assert result.exit_code == 0, result.output
    assert f'"{WORD}" at 0.0 s' in result.output


def test_missing_optional_packages_name_the_extra() -> None:
    assert install_hint("faster_whisper") == "pip install 'saboteur[faster-whisper]'"
    assert install_hint("rapidocr_onnxruntime") == (
        "pip install 'saboteur[ocr]' && pip install --no-deps 'rapidocr-onnxruntime>=1.3'"
    )
    assert "whisper" not in missing("transcript", asr="faster-whisper")
