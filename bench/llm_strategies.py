"""Real MELD utterances through the transcript agent with every built-in strategy, offline, timed.

Not a ``bench_*`` module (``make bench`` would take many minutes on 2 cores): run it by hand,

    .venv/bin/python bench/llm_strategies.py --n 12 --out runs/llm-strategies

It ignores ``OPENAI_*`` variables (no key, no network): the embedded SmolLM2-135M server is started, and
each strategy's wall time is measured over the first N utterances of the bundled MELD test subset, with
a fresh response cache (a second run of the same command is answered from the cache: no calls). Prints
one JSON object: per strategy the number of valid verdicts (label in the set, confidence in [0, 1],
self-assessment present, no error), accuracy against MELD's labels, model calls and wall seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import time
from pathlib import Path
from typing import Any

from saboteur.agents.agent import Agent
from saboteur.agents.llm.backend import resolve_backend_config
from saboteur.agents.llm.connect import open_backend
from saboteur.agents.strategies import load_strategies
from saboteur.demo import bundled_data
from saboteur.labels import get_label_set
from saboteur.rundir import RunDir
from saboteur.schemas import Evidence, RunConfig, Verdict

ORDER = (
    "zero_shot",
    "logprob",
    "few_shot",
    "topk_verbalized",
    "cot",
    "self_assess_separate",
    "self_consistency",
)


def meld_rows(n: int) -> list[dict[str, str]]:
    """The first ``n`` utterances of the bundled MELD test subset."""
    with (bundled_data("meld") / "test_subset.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))[:n]


def valid(verdict: Verdict, labels: list[str]) -> bool:
    """The issue's validity test of one verdict."""
    return (
        verdict.error is None
        and verdict.label in labels
        and 0.0 <= verdict.confidence <= 1.0
        and verdict.self_assessment is not None
    )


async def measure(n: int, out: Path, strategies: list[str]) -> dict[str, Any]:
    labels = get_label_set("meld")
    rows = meld_rows(n)
    run = RunDir(out)
    if not run.config_path.is_file():
        run.create(
            RunConfig(
                label_set="meld", labels=labels.labels, modalities=["transcript"], strategies=strategies
            )
        )
    known = load_strategies()
    results: dict[str, Any] = {}
    config = resolve_backend_config(environ={})
    started = time.perf_counter()
    async with open_backend(config, run=out) as backend:
        results["server_start_s"] = round(time.perf_counter() - started, 2)
        for name in strategies:
            agent = Agent("transcript", backend, known[name], labels)
            t0 = time.perf_counter()
            verdicts = []
            for row in rows:
                evidence = Evidence(modality="transcript", text=row["Utterance"])
                clip = f"dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"
                verdicts.append(await agent.run(clip, evidence, row["Emotion"]))
            wall = time.perf_counter() - t0
            run.append(verdicts)
            results[name] = {
                "n": len(verdicts),
                "valid": sum(valid(v, labels.labels) for v in verdicts),
                "correct": sum(v.label == v.truth for v in verdicts),
                "calls": sum(v.usage.calls for v in verdicts),
                "completion_tokens": sum(v.usage.completion_tokens for v in verdicts),
                "wall_s": round(wall, 1),
                "errors": [v.error for v in verdicts if v.error],
            }
            print(json.dumps({name: results[name]}), flush=True)
    results["total_wall_s"] = round(time.perf_counter() - started, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("runs/llm-strategies"))
    parser.add_argument("--strategies", default=",".join(ORDER))
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.n, args.out, args.strategies.split(",")))))


if __name__ == "__main__":
    main()
