"""The verdict store: durability, torn tails, malformed lines, deterministic duplicate resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import verdict

from saboteur.errors import SaboteurError
from saboteur.rundir import RunDir
from saboteur.schemas import RunConfig, Verdict


def make_run(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.create(RunConfig(label_set="custom", labels=["joy", "sadness"], modalities=["T", "A"]))
    return run


def test_round_trip_and_config(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    written = [verdict("c1", "T", [("joy", 0.9), ("sadness", 0.1)], truth="joy", quality=0.4)]
    with run.open_writer() as writer:
        for v in written:
            writer.write(v)
    loaded = run.load()
    assert loaded.verdicts == written
    assert loaded.report.lines == 1 and not loaded.report.torn_tail
    assert run.read_config().modalities == ["T", "A"]
    run.update_status("complete")
    assert run.read_config().status == "complete"


def test_torn_last_line_is_tolerated_reported_and_repaired(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    run.append([verdict("c1", "T", [("joy", 0.9)]), verdict("c1", "A", [("sadness", 0.6)])])
    whole = verdict("c2", "T", [("joy", 0.7)]).model_dump_json()
    with run.verdicts_path.open("a", encoding="utf-8") as handle:
        handle.write(whole[: len(whole) // 2])  # the crash came mid-write
    loaded = run.load()
    assert loaded.report.torn_tail and len(loaded.verdicts) == 2 and loaded.report.malformed == 0
    assert run.repair() is True
    assert run.verdicts_path.read_text().endswith("\n")
    assert (run.path / "verdicts.jsonl.torn").read_text().strip() == whole[: len(whole) // 2]
    run.append([verdict("c2", "T", [("joy", 0.7)])])  # the resumed run writes the verdict again
    again = run.load()
    assert not again.report.torn_tail and [v.clip_id for v in again.verdicts] == ["c1", "c1", "c2"]


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    line = verdict("c1", "T", [("joy", 0.9)]).model_dump_json()
    run.verdicts_path.write_text(line)
    assert len(run.load().verdicts) == 1
    assert run.repair() is False
    run.append([verdict("c2", "T", [("joy", 0.9)])])
    assert len(run.load().verdicts) == 2


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    good = verdict("c1", "T", [("joy", 0.9)]).model_dump_json()
    run.verdicts_path.write_text(f'{good}\n{{"not": "a verdict"}}\nnot json at all\n{good}\n')
    loaded = run.load()
    assert loaded.report.malformed == 2 and loaded.report.malformed_lines == [2, 3]
    assert loaded.report.duplicates == 1 and len(loaded.verdicts) == 1


def test_duplicates_valid_beats_error_then_earliest(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    failed = verdict("c1", "T", error="timeout")
    first = verdict("c1", "T", [("joy", 0.9)])
    second = verdict("c1", "T", [("sadness", 0.8)])
    other_strategy = verdict("c1", "T", [("sadness", 0.8)], strategy="cot")
    run.append([failed, first, second, other_strategy])
    loaded = run.load()
    assert loaded.report.duplicates == 2
    assert [(v.strategy, v.label) for v in loaded.verdicts] == [("s", "joy"), ("cot", "sadness")]
    assert run.finished_keys() == {("c1", "T", "s", "m"), ("c1", "T", "cot", "m")}


def test_error_verdicts_are_kept_when_nothing_better_exists(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    run.append([verdict("c1", "T", error="timeout"), verdict("c1", "T", error="timeout again")])
    loaded = run.load()
    assert [v.error for v in loaded.verdicts] == ["timeout"] and loaded.report.errors == 1
    assert run.finished_keys() == set()


def test_missing_run_and_broken_config_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SaboteurError, match="not a run directory"):
        RunDir(tmp_path / "nothing").load()
    run = make_run(tmp_path)
    run.config_path.write_text("{broken")
    with pytest.raises(SaboteurError, match="not a valid run configuration"):
        run.read_config()


def test_verdict_schema_rules() -> None:
    with pytest.raises(ValueError, match="must have a label"):
        Verdict(clip_id="c", modality="T")
    with pytest.raises(ValueError):
        verdict("c", "T", [("joy", 1.5)])
    v = verdict("c", "T", [("joy", 0.9), ("joy", 0.2), ("sadness", 0.1)])
    assert [item.label for item in v.ranking] == ["joy", "sadness"]
