"""OpenCLIP backend for the frames tool: zero-shot ranking of descriptors and CoCa captions.

No CLIP weights are on PyPI, so this backend is for users who have them: an open_clip model name plus a
``pretrained`` tag resolved from their local cache (nothing is downloaded: the hub is put offline), or a
checkpoint file path. ``pretrained=None`` builds the architecture with random weights; that is what the
offline plumbing tests use, and its rankings mean nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.deps import require
from saboteur.errors import SaboteurError

if TYPE_CHECKING:
    from numpy.typing import NDArray

DEFAULT_VOCABULARY: dict[str, tuple[str, ...]] = {
    "expression": (
        "a smiling person",
        "a laughing person",
        "a frowning person",
        "an angry person",
        "a sad person",
        "a crying person",
        "a surprised person",
        "a scared person",
        "a disgusted person",
        "a person with a neutral face",
    ),
    "gesture": (
        "a person waving",
        "a person pointing",
        "a person with arms crossed",
        "a person shrugging",
        "a person covering their face",
        "a person gesturing with their hands",
        "a person sitting still",
    ),
    "scene": (
        "an office",
        "a living room",
        "a kitchen",
        "a street",
        "a stage",
        "a car",
        "outdoors in nature",
        "a classroom",
        "a restaurant",
        "a television studio",
    ),
}
"""Descriptor groups; each group is ranked separately (softmax within the group)."""

TEMPLATE = "a photo of {}."


@dataclass(frozen=True)
class ClipSpec:
    """Which OpenCLIP model to use: a name plus a cached ``pretrained`` tag, a checkpoint path, or None."""

    model: str = "ViT-B-32"
    pretrained: str | None = None


class ClipBackend:
    """A loaded OpenCLIP model with its preprocessing and tokenizer."""

    def __init__(self, spec: ClipSpec, batch_size: int = 16) -> None:
        self.spec = spec
        self.batch_size = batch_size
        open_clip = require("open_clip", "the OpenCLIP frame backend")
        self._torch = require("torch", "the OpenCLIP frame backend")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # resolve tags from the local cache, never download
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.model, pretrained=spec.pretrained, device="cpu"
            )
        except Exception as exc:
            raise SaboteurError(
                f"OpenCLIP model {spec.model!r} with weights {spec.pretrained!r} cannot be loaded offline "
                f"({str(exc).splitlines()[0][:160]}); give a checkpoint path or a tag in your local cache"
            ) from exc
        model.eval()
        self.model: Any = model
        self.preprocess: Any = preprocess
        self.tokenizer: Any = open_clip.get_tokenizer(spec.model)
        self._open_clip = open_clip
        self.is_coca = hasattr(model, "generate") and "coca" in spec.model.lower()
        self.can_caption = self.is_coca and importlib.util.find_spec("transformers") is not None
        """open_clip's CoCa ``generate`` needs ``transformers``; without it, frames get no CoCa caption."""
        self._text_cache: dict[tuple[str, ...], NDArray[np.float32]] = {}

    def _batches(self, images: list[NDArray[np.uint8]]) -> list[Any]:
        from PIL import Image

        tensors = [self.preprocess(Image.fromarray(np.asarray(image, dtype=np.uint8))) for image in images]
        return [
            self._torch.stack(tensors[i : i + self.batch_size])
            for i in range(0, len(tensors), self.batch_size)
        ]

    def image_features(self, images: list[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """L2-normalised image embeddings [n, d], computed in batches."""
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        with self._torch.no_grad():
            parts = [self.model.encode_image(batch) for batch in self._batches(images)]
            feats = self._torch.cat(parts)
            feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return np.asarray(feats.float().numpy(), dtype=np.float32)

    def text_features(self, texts: tuple[str, ...]) -> NDArray[np.float32]:
        """L2-normalised text embeddings [n, d] of ``TEMPLATE``-wrapped descriptors (kept per vocabulary)."""
        if texts not in self._text_cache:
            with self._torch.no_grad():
                feats = self.model.encode_text(self.tokenizer([TEMPLATE.format(t) for t in texts]))
                feats = feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            self._text_cache[texts] = np.asarray(feats.float().numpy(), dtype=np.float32)
        return self._text_cache[texts]

    def rank(
        self,
        images: list[NDArray[np.uint8]],
        vocabulary: dict[str, tuple[str, ...]] | None = None,
        top: int = 3,
    ) -> list[dict[str, list[dict[str, Any]]]]:
        """Per image and descriptor group: the ``top`` descriptors by zero-shot probability, best first."""
        vocab = vocabulary or DEFAULT_VOCABULARY
        feats = self.image_features(images)
        scale = float(self.model.logit_scale.exp().item()) if hasattr(self.model, "logit_scale") else 100.0
        out: list[dict[str, list[dict[str, Any]]]] = [{} for _ in images]
        for group, terms in vocab.items():
            logits = scale * feats @ self.text_features(tuple(terms)).T  # [n_images, n_terms]
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
            for i in range(len(images)):
                out[i][group] = [{"term": terms[j], "score": round(float(probs[i, j]), 4)} for j in order[i]]
        return out

    def caption(self, images: list[NDArray[np.uint8]], max_tokens: int = 30) -> list[str]:
        """CoCa captions (only for CoCa models; empty strings otherwise)."""
        if not self.is_coca or not images:
            return ["" for _ in images]
        require("transformers", "CoCa captions")
        captions: list[str] = []
        with self._torch.no_grad():
            for batch in self._batches(images):
                generated = self.model.generate(batch, seq_len=max_tokens)
                for row in generated:
                    text = self._open_clip.decode(row)
                    text = text.split("<end_of_text>")[0].replace("<start_of_text>", "")
                    captions.append(text.strip(" ."))
        return captions


_LOCK = threading.Lock()


def load_clip(model: str, pretrained: str | None) -> ClipBackend:
    """One backend per (model, pretrained) per process."""
    with _LOCK:
        return _load_clip(model, pretrained)


@functools.cache
def _load_clip(model: str, pretrained: str | None) -> ClipBackend:
    return ClipBackend(ClipSpec(model, pretrained))
