"""Every fault a flaky server can throw at a run ends as a valid or an explained error verdict.

The server is real (tests/fault_server.py, on 127.0.0.1); each mode persists for the whole run, so the
retry counts the backend promises can be read off the requests the server received.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer

from saboteur.graph.api import run
from saboteur.rundir import RunDir

GOOD = {
    "label": "joy",
    "confidence": 80,
    "ranking": [{"label": "joy", "confidence": 80}],
    "self_assessment": {"score": 70, "issues": [], "rationale": "clear"},
    "rationale": "pleased words",
}
OPTIONS = {"timeout_s": 0.6, "max_attempts": 3, "backoff_initial_s": 0.01, "jitter_s": 0.0}
CLIPS = ("first line of the scene", "second line of the scene")

# mode -> (server step, expected answer requests per clip or None when not fixed, valid verdicts expected)
MODES: dict[str, tuple[dict[str, Any], int | None, bool]] = {
    "429 with Retry-After": ({"status": 429, "retry_after": 0}, 3, False),
    "429 without Retry-After": ({"status": 429}, 3, False),
    "500": ({"status": 500}, 3, False),
    "503": ({"status": 503}, 3, False),
    "slow past the timeout": ({"delay": 1.5, "content": json.dumps(GOOD)}, 3, False),
    "connection dropped mid-body": ({"drop": True, "content": json.dumps(GOOD)}, 3, False),
    "malformed JSON body": ({"body": '{"choices": [{"message": '}, 3, False),
    "JSON that breaks the schema": ({"content": json.dumps({"mood": "great"})}, None, False),
    "label outside the set": ({"content": json.dumps({**GOOD, "label": "ecstatic"})}, 2, False),
    "empty choices": ({"empty_choices": True, "content": "x"}, None, False),
    "enormous output": ({"content": "joy " * 250_000}, None, False),
    "healthy": ({"content": json.dumps(GOOD)}, 1, True),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_each_fault_ends_in_a_stored_explained_verdict(mode: str, tmp_path: Path) -> None:
    step, per_clip, valid = MODES[mode]
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "clip_id,transcript,label\n" + "".join(f"c{i},{t},joy\n" for i, t in enumerate(CLIPS))
    )
    with FaultServer(default=step) as server:
        summary = run(manifest, tmp_path / "run", modalities=["transcript"], base_url=server.base_url,
                      backend_options=OPTIONS)  # fmt: skip
        answers = [
            sum(1 for r in server.chat_requests if r.body and text in json.dumps(r.body)) for text in CLIPS
        ]
    verdicts = {v.clip_id: v for v in RunDir(tmp_path / "run").load().verdicts}
    assert set(verdicts) == {"c0", "c1"} and summary.status == "complete"
    for verdict in verdicts.values():
        if valid:
            assert verdict.ok and verdict.label == "joy"
        else:
            assert verdict.error, f"{mode}: an error verdict must say why"
            assert verdict.label is None
    if per_clip is not None:
        assert answers == [per_clip, per_clip], f"{mode}: requests per clip {answers}"
    assert summary.errors == (0 if valid else 2)
