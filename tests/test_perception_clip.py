"""OpenCLIP backend plumbing tests: no CLIP weights exist offline, so these run real open_clip models with
random weights (``pretrained=None``): a tiny registered architecture for speed, and ViT-B-32 once. They
check shapes, batching, ranking and caption text, not meaning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

open_clip = pytest.importorskip("open_clip")
skdata = pytest.importorskip("skimage.data")

from saboteur.agents.perception.clip_backend import DEFAULT_VOCABULARY, ClipBackend, ClipSpec, load_clip  # noqa: E402
from saboteur.agents.perception.synth import write_clip  # noqa: E402
from saboteur.agents.perception.tools import PerceptionConfig, frames_tool  # noqa: E402
from saboteur.errors import SaboteurError  # noqa: E402

TINY = "plumbing-tiny-clip"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> ClipBackend:
    """A 2-layer CLIP registered with open_clip (the ViT-B-32 layout, shrunk)."""
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
    }
    path = tmp_path_factory.mktemp("clipcfg") / f"{TINY}.json"
    path.write_text(json.dumps(config))
    open_clip.add_model_config(path)
    return load_clip(TINY, None)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [skdata.astronaut(), skdata.coffee(), skdata.chelsea()]


def test_plumbing_image_features_are_unit_vectors_and_batch_independent(
    backend: ClipBackend, images: list[np.ndarray]
) -> None:
    backend.batch_size = 2  # three images: two batches
    together = backend.image_features(images)
    assert together.shape == (3, 32)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    alone = np.concatenate([backend.image_features([image]) for image in images])
    assert np.allclose(together, alone, atol=1e-4)


def test_plumbing_ranking_per_vocabulary_group(backend: ClipBackend, images: list[np.ndarray]) -> None:
    ranked = backend.rank(images, top=3)
    assert len(ranked) == 3
    for row in ranked:
        assert set(row) == set(DEFAULT_VOCABULARY)
        for group, terms in row.items():
            scores = [t["score"] for t in terms]
            assert len(terms) == 3 and scores == sorted(scores, reverse=True)
            assert all(t["term"] in DEFAULT_VOCABULARY[group] for t in terms)
            assert 0.0 < sum(scores) <= 1.0 + 1e-3
    full = backend.rank(images[:1], {"two": ("a cat", "a cup")}, top=2)[0]["two"]
    assert sum(t["score"] for t in full) == pytest.approx(1.0, abs=1e-3)


def test_plumbing_frames_tool_with_clip(backend: ClipBackend, tmp_path: Path) -> None:
    path = write_clip(tmp_path / "face.mp4", [skdata.astronaut()], None, fps=5, duration_s=1.0)
    config = PerceptionConfig(use_cache=False, n_frames=2, peak_frames=0, clip_model=TINY)
    evidence = frames_tool(path, config)
    assert evidence.available, evidence.reason
    clip = evidence.features["clip"]
    assert clip["model"] == TINY and clip["pretrained"] is None
    assert len(clip["frames"]) == 2
    assert all(
        "expression: " in c["caption"] and "scene: " in c["caption"] for c in evidence.features["captions"]
    )


@pytest.mark.slow
def test_plumbing_vit_b_32_architecture(images: list[np.ndarray]) -> None:
    vit = ClipBackend(ClipSpec("ViT-B-32", None))
    assert vit.image_features(images[:1]).shape == (1, 512)
    (ranked,) = vit.rank(images[:1], {"what": ("a person", "a cup", "a cat")}, top=3)
    assert sorted(t["term"] for t in ranked["what"]) == ["a cat", "a cup", "a person"]
    assert sum(t["score"] for t in ranked["what"]) == pytest.approx(1.0, abs=1e-3)


def test_plumbing_coca_captions_are_text(images: list[np.ndarray]) -> None:
    pytest.importorskip("transformers", reason="open_clip's CoCa generate() needs transformers")
    coca = ClipBackend(ClipSpec("coca_ViT-B-32", None))
    assert coca.is_coca and coca.can_caption
    captions = coca.caption(images[:2], max_tokens=6)
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    assert all("<start_of_text>" not in c and "<end_of_text>" not in c for c in captions)


def test_missing_checkpoint_fails_with_one_clear_line(backend: ClipBackend) -> None:
    with pytest.raises(SaboteurError, match="cannot be loaded offline"):
        ClipBackend(ClipSpec(TINY, "/nonexistent/checkpoint.bin"))
