"""Strategy files: the built-ins, a user's dropped-in strategy, malformed files, pools, the CLI listing."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saboteur.agents.prompting import build_messages
from saboteur.agents.strategies import get_strategy, load_pool, load_strategies, pick_examples
from saboteur.cli import app
from saboteur.errors import SaboteurError
from saboteur.labels import get_label_set, make_label_set
from saboteur.schemas import Evidence

MELD = get_label_set("meld")
BUILTINS = {
    "zero_shot",
    "cot",
    "few_shot",
    "topk_verbalized",
    "self_consistency",
    "logprob",
    "self_assess_separate",
}


def test_builtin_strategies_and_how_they_elicit_confidence() -> None:
    strategies = load_strategies()
    assert set(strategies) >= BUILTINS
    assert (
        strategies["self_consistency"].confidence == "votes" and strategies["self_consistency"].samples >= 2
    )
    assert strategies["self_consistency"].sampling.temperature > 0
    assert strategies["logprob"].confidence == "logprob" and strategies["logprob"].sampling.max_tokens == 1
    assert strategies["self_assess_separate"].self_assessment == "separate"
    assert strategies["topk_verbalized"].confidence == "topk" and strategies["cot"].reasoning
    assert strategies["few_shot"].examples == 7
    for name in BUILTINS:
        assert strategies[name].grader_user  # every strategy can grade separately


def write_strategy(folder: Path, name: str, system: str, user: str, meta: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(f'description = "mine"\n{meta}\n[sampling]\ntemperature = 0.2\n')
    (folder / f"{name}.md").write_text(f"[system]\n{system}\n\n[user]\n{user}\n")


def test_a_user_adds_a_strategy_by_dropping_in_files(tmp_path: Path) -> None:
    write_strategy(
        tmp_path, "terse", "Label the $modality.", "Labels: $labels\n$evidence", 'confidence = "topk"'
    )
    strategies = load_strategies([tmp_path])
    assert "terse" in strategies and set(strategies) >= BUILTINS
    terse = strategies["terse"]
    assert terse.confidence == "topk" and terse.sampling.temperature == 0.2
    messages = build_messages(terse, MELD, "transcript", [Evidence(modality="transcript", text="Hi there")])
    assert messages[0] == {
        "role": "system",
        "content": "Label the transcript of what was said in a video clip.",
    }
    assert messages[1]["content"] == (
        "Labels: anger, disgust, fear, joy, neutral, sadness, surprise\n"
        '<data kind="transcript">\nHi there\n</data>'
    )
    # the CLI lists it, from --prompts
    result = CliRunner().invoke(app, ["strategies", "--json", "--prompts", str(tmp_path)])
    assert result.exit_code == 0
    names = [row["name"] for row in json.loads(result.stdout)["strategies"]]
    assert "terse" in names and set(names) >= BUILTINS


def test_media_placeholders_are_refused_in_the_system_role(tmp_path: Path) -> None:
    write_strategy(tmp_path, "leaky", "Here is the clip: $evidence", "Labels: $labels")
    with pytest.raises(SaboteurError, match=r"\$evidence may not appear in its system section"):
        load_strategies([tmp_path])
    result = CliRunner().invoke(app, ["strategies", "--prompts", str(tmp_path)])
    assert result.exit_code == 2 and "may not appear in its system section" in result.stderr


def test_malformed_strategy_files_are_one_clear_error(tmp_path: Path) -> None:
    write_strategy(tmp_path, "typo", "ok", "$evidnce")
    with pytest.raises(SaboteurError, match=r"unknown placeholder \$evidnce"):
        load_strategies([tmp_path])
    bad = tmp_path / "bad"
    write_strategy(bad, "wrong", "ok", "$evidence", 'confidence = "vibes"')
    with pytest.raises(SaboteurError, match=r"wrong.toml: confidence"):
        load_strategies([bad])
    with pytest.raises(SaboteurError, match="unknown strategy 'nope'"):
        get_strategy("nope")


def test_meld_pool_is_real_balanced_and_picked_one_per_label() -> None:
    pool = load_pool(MELD)
    assert len(pool) == 100 and all(e.source.startswith("MELD train") for e in pool)
    counts = Counter(e.label for e in pool)
    assert set(counts) == set(MELD.labels) and min(counts.values()) >= 12
    picked = pick_examples(pool, MELD, 7, "transcript")
    assert sorted(e.label for e in picked) == sorted(MELD.labels)
    assert picked == pick_examples(pool, MELD, 7, "transcript")  # deterministic
    assert len({e.label for e in pick_examples(pool, MELD, 14, "transcript")}) == 7
    with pytest.raises(SaboteurError, match="no few-shot pool for label set 'custom'"):
        load_pool(make_label_set(["calm", "tense"]))
