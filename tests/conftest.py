"""Shared fixtures: verdict builders and the real CREMA-D import (made once per session)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from saboteur.demo import bundled_data
from saboteur.eval.importers import import_crema_d
from saboteur.schemas import LabelScore, SelfAssessment, Verdict


def verdict(
    clip: str,
    agent: str,
    ranking: Sequence[tuple[str, float]] | None = None,
    *,
    truth: str | None = None,
    label: str | None = None,
    confidence: float | None = None,
    quality: float | None = None,
    error: str | None = None,
    strategy: str = "s",
    model: str = "m",
) -> Verdict:
    """A verdict from a compact spec: ranking pairs best first; label/confidence default to the first."""
    items = [LabelScore(label=name, confidence=conf) for name, conf in (ranking or [])]
    if error is not None:
        return Verdict(clip_id=clip, modality=agent, truth=truth, error=error, strategy=strategy, model=model)
    return Verdict(
        clip_id=clip,
        modality=agent,
        strategy=strategy,
        model=model,
        label=label if label is not None else items[0].label,
        confidence=confidence if confidence is not None else items[0].confidence,
        ranking=items,
        self_assessment=None if quality is None else SelfAssessment(score=quality),
        truth=truth,
    )


@pytest.fixture(scope="session")
def crema_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled real CREMA-D votes imported once (agents voice, face, av)."""
    out = tmp_path_factory.mktemp("crema") / "run"
    import_crema_d(bundled_data("crema-d"), out)
    return out


@pytest.fixture(scope="session")
def embedded_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real embedded LLM (SmolLM2-135M on llama.cpp), started once; yields its base URL."""
    from saboteur.agents.llm.server import EmbeddedServer

    log = tmp_path_factory.mktemp("llm") / "server.log"
    with EmbeddedServer(log_path=log) as server:
        yield server.base_url
