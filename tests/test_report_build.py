"""Building a report: the numbers it gathers, the files it writes, escaping of agent text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import verdict
from scipy.stats import binomtest
from sklearn.calibration import calibration_curve
from typer.testing import CliRunner

from saboteur.cli import app
from saboteur.eval.attribution import attribute
from saboteur.eval.fusion import fuse
from saboteur.eval.load import load_table
from saboteur.eval.report.build import build_report, gather
from saboteur.eval.report.data import sabotage_matrix
from saboteur.eval.report.figures import exact_interval, reliability_bins
from saboteur.eval.report.html import json_for_script
from saboteur.eval.report.markdown import cell
from saboteur.rundir import RunDir
from saboteur.schemas import RunConfig, Verdict

LABELS = ["a", "b", "c"]


def small_run(path: Path) -> Path:
    """Three agents over 6 clips with known sabotage (confidence rule, tau 0.7).

    c0: x says b (0.9), y and z say a (0.3 each): fused b, x is a successful and decisive saboteur.
    c1: x says c (0.8), y says a (0.5), z says a (0.2): fused c (0.8 > 0.7), x sabotages, decisive.
    c2: everyone right (truth c).
    c3: y says a (0.95) on truth b, x and z say b (0.4 each): y sabotages (0.95 > 0.8), decisive.
    c4: z says c (0.6) on truth a, x, y say a (0.5): fused a, right; z is wrong but not confident.
    c5: x errors; y says b (0.9) on truth b.
    """
    spec: list[tuple[str, str, list[tuple[str, str, float]]]] = [
        ("c0", "a", [("x", "b", 0.9), ("y", "a", 0.3), ("z", "a", 0.3)]),
        ("c1", "a", [("x", "c", 0.8), ("y", "a", 0.5), ("z", "a", 0.2)]),
        ("c2", "c", [("x", "c", 0.9), ("y", "c", 0.9), ("z", "c", 0.9)]),
        ("c3", "b", [("x", "b", 0.4), ("y", "a", 0.95), ("z", "b", 0.4)]),
        ("c4", "a", [("x", "a", 0.5), ("y", "a", 0.5), ("z", "c", 0.6)]),
        ("c5", "b", [("y", "b", 0.9), ("z", "b", 0.6)]),
    ]
    verdicts: list[Verdict] = []
    for clip, truth, answers in spec:
        for agent, label, conf in answers:
            v = verdict(clip, agent, [(label, conf)], truth=truth, quality=conf)
            v.rationale = f"{agent} thinks {label} | because <b>reasons</b>"
            verdicts.append(v)
    verdicts.append(verdict("c5", "x", truth="b", error="timeout"))
    run = RunDir(path)
    run.create(RunConfig(label_set="custom", labels=LABELS, modalities=["x", "y", "z"]))
    run.append(verdicts)
    return path


def test_sabotage_matrix_and_worst_cases_by_hand(tmp_path: Path) -> None:
    run = small_run(tmp_path / "run")
    table = load_table(run).table
    fused = fuse(table, "confidence")
    matrix = sabotage_matrix(table, attribute(table, "confidence", 0.7), fused)
    expected = np.zeros((3, 3, 3), dtype=int)
    expected[0, 0, 1] = 1  # x, truth a -> fused b (c0)
    expected[0, 0, 2] = 1  # x, truth a -> fused c (c1)
    expected[1, 1, 0] = 1  # y, truth b -> fused a (c3)
    assert (matrix == expected).all()

    data = gather(run)
    worst = [(w.clip_id, w.saboteur, w.fused) for w in data.worst]
    assert worst == [("c3", "y", "a"), ("c0", "x", "b"), ("c1", "x", "c")]  # most confident first
    assert data.worst[0].others == {"x": "b", "z": "b"}
    assert data.clips[5].agents[0].error == "timeout" and data.clips[5].saboteurs == []
    assert data.clips[0].saboteurs == ["x"] and data.clips[0].correct is False
    assert data.evaluation.accuracy == pytest.approx(3 / 6)


def test_report_files_and_escaped_markdown(tmp_path: Path) -> None:
    run = small_run(tmp_path / "run")
    (run / "permutation.json").write_text(
        json.dumps(
            {
                "ba_clean": 0.61,
                "ba_broken_mean": 0.6,
                "gap_mean": 0.01,
                "gap_std": 0.02,
                "p_value_median": 0.41,
                "oracle_headroom": 0.3,
            }
        ),
        encoding="utf-8",
    )
    index = build_report(run)
    assert index == run / "report" / "index.html"
    names = sorted(p.name for p in (run / "report" / "figures").iterdir())
    assert names == [
        "profile.svg",
        "reliability.svg",
        "sabotage_matrix.png",
        "self_assessment.svg",
        "shapley.svg",
        "topk.svg",
    ]
    page = index.read_text(encoding="utf-8")
    assert 'id="permutation"' in page and "<td>gap_mean</td><td>0.010</td>" in page
    for fetch in ('src="http', "src='http", 'href="http', "@import", "<link", "<iframe"):
        assert fetch not in page, fetch  # nothing is fetched from anywhere
    assert re.findall(r"url\((?!#)", page) == []  # only references to the page's own SVG ids
    md = (run / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Permutation diagnostic" in md and "| p_value_median | 0.410 |" in md
    assert "![Sabotage matrix](figures/sabotage_matrix.png)" in md
    # agent text: HTML escaped, pipes escaped, in the worst-cases table
    assert "y thinks a \\| because &lt;b&gt;reasons&lt;/b&gt;" in md and "<b>" not in md
    # without a stored permutation result there is no such section
    (run / "permutation.json").unlink()
    assert 'id="permutation"' not in build_report(run, tmp_path / "elsewhere").read_text(encoding="utf-8")


def test_script_json_cannot_close_its_element() -> None:
    data = {"t": "</script><script>alert(1)</script> & \u2028 ok"}
    text = json_for_script(data)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == data
    assert cell("a|b\n<i>c</i>" + "x" * 300).startswith("a\\|b &lt;i&gt;c&lt;/i&gt;")
    assert len(cell("x" * 300)) == 240


def test_reliability_bins_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    conf = rng.random(2000)
    correct = rng.random(2000) < conf**1.5
    mean_conf, acc, counts, ece = reliability_bins(conf, correct)
    true_frac, pred_mean = calibration_curve(correct, conf, n_bins=10, strategy="uniform")
    filled = counts > 0
    assert acc[filled] == pytest.approx(true_frac) and mean_conf[filled] == pytest.approx(pred_mean)
    assert ece == pytest.approx(float(np.sum(counts[filled] / 2000 * np.abs(true_frac - pred_mean))))
    # 1.0 falls in the last bin
    assert reliability_bins(np.array([1.0, 0.95]), np.array([True, False]))[2][-1] == 2


def test_exact_intervals_match_scipy() -> None:
    hits, n = np.array([0, 3, 7, 10, 0]), np.array([10, 10, 20, 10, 0])
    low, high = exact_interval(hits, n)
    for i in range(4):
        ci = binomtest(int(hits[i]), int(n[i])).proportion_ci(method="exact")
        assert (low[i], high[i]) == pytest.approx((ci.low, ci.high))
    assert np.isnan(low[4]) and np.isnan(high[4])


def test_cli_report(tmp_path: Path) -> None:
    run = small_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "rep" / "index.html") in result.stdout.replace("\n", "")
    assert (tmp_path / "rep" / "report.md").is_file()
    as_json = CliRunner().invoke(app, ["report", str(run), "--json"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {
        "index": str(run / "report" / "index.html"),
        "markdown": str(run / "report" / "report.md"),
    }
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.output
