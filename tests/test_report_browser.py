"""The report of the real CREMA-D import, opened in a real headless Chromium.

A stored verdict is planted with hostile text (a ``<script>``, an ``onerror`` handler, a script-closing
JSON breaker, a hostile clip id). The page must render its plots without any console message, show the
hostile text literally, and never run it: the planted code would set ``data-pwned`` on <body>, and any
attempt to run it would also log a Content-Security-Policy violation to the console.

Chromium comes from Debian (``apt-get install -y chromium``); set SABOTEUR_SKIP_BROWSER=1 to skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from conftest import verdict
from matplotlib.image import imread

from saboteur.eval.report.build import build_report
from saboteur.rundir import VERDICTS
from saboteur.schemas import SelfAssessment, Verdict

PWN = "document.body.setAttribute('data-pwned','{}')"
HOSTILE_SCRIPT = f"<script>{PWN.format('script')}</script> voice sounded calm"
HOSTILE_JSON = f"</script><script>{PWN.format('json')}</script>"
HOSTILE_IMG = f'<img src=x onerror="{PWN.format("img")}"> face unclear'
HOSTILE_ID = f'<svg onload="{PWN.format("id")}">clip'


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("SABOTEUR_SKIP_BROWSER"):
        pytest.skip("no chromium and SABOTEUR_SKIP_BROWSER is set")
    pytest.fail("chromium is missing: apt-get install -y chromium (the Makefile's test set-up does this)")


def chromium(url: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` with console logging on stderr."""
    args = [
        chromium_binary(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        url,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def console_lines(stderr: str) -> list[str]:
    """Messages the page logged (console.*, uncaught errors, CSP violations)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def body_tag(dom: str) -> str:
    """The <body ...> start tag, where the page's script records its state."""
    found = re.search(r"<body[^>]*>", dom)
    assert found, dom[:500]
    return found.group(0)


def hostile_verdicts() -> list[Verdict]:
    """A clip whose confident voice agent sabotages the fusion, every text field hostile."""
    voice = verdict(
        HOSTILE_ID, "voice", [("neutral", 1.0)], truth="anger", strategy="crowd-votes", model="crema-d-raters"
    )
    voice.rationale = HOSTILE_SCRIPT + " " + HOSTILE_JSON
    voice.self_assessment = SelfAssessment(score=1.0, issues=[HOSTILE_IMG], rationale=HOSTILE_JSON)
    face = verdict(
        HOSTILE_ID,
        "face",
        [("anger", 0.4)],
        truth="anger",
        quality=0.4,
        strategy="crowd-votes",
        model="crema-d-raters",
    )
    face.rationale = HOSTILE_IMG
    av = verdict(
        HOSTILE_ID,
        "av",
        [("anger", 0.5)],
        truth="anger",
        quality=0.5,
        strategy="crowd-votes",
        model="crema-d-raters",
    )
    return [voice, face, av]


@pytest.fixture(scope="module")
def report(crema_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CREMA-D import with the hostile clip stored first, and its report."""
    run = tmp_path_factory.mktemp("hostile") / "run"
    shutil.copytree(crema_run, run)
    original = (run / VERDICTS).read_text(encoding="utf-8")
    planted = "".join(v.model_dump_json() + "\n" for v in hostile_verdicts())
    (run / VERDICTS).write_text(planted + original, encoding="utf-8")
    return build_report(run)


@pytest.fixture(scope="module")
def rendered(report: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    tmp = tmp_path_factory.mktemp("dom")
    result = chromium(report.as_uri(), tmp, "--dump-dom", "--virtual-time-budget=5000")
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout, result.stderr


def test_report_renders_plots_without_console_errors(rendered: tuple[str, str]) -> None:
    dom, stderr = rendered
    assert 'data-rendered="ok"' in body_tag(dom)
    assert "data-js-error" not in body_tag(dom)
    assert console_lines(stderr) == []
    plots = dom.count('<svg class="plot"') + dom.count('<img class="plot"')
    assert plots >= 3 and plots == 6
    # the clip table was built by the script: 50 rows on the first page, 7443 clips counted
    assert dom.count('<tr class="row">') == 50
    assert "7443 of 7443 clips" in dom


def test_hostile_text_is_shown_not_run(report: Path, rendered: tuple[str, str]) -> None:
    dom, stderr = rendered
    assert "data-pwned" not in body_tag(dom)  # the planted code never ran
    assert console_lines(stderr) == []  # not even a blocked attempt (CSP would log one)
    raw = report.read_text(encoding="utf-8")
    # the page holds exactly its two scripts (the JSON data and its own code) and no injected element
    assert raw.count("<script") == 2 and raw.count("<svg onload") == 0 and "<img src=x" not in raw
    # displayed literally: in the worst-cases table (server-side escaping) ...
    worst = dom.split('id="worst"')[1].split("</section>")[0]
    assert "&lt;script&gt;document.body.setAttribute('data-pwned','script')&lt;/script&gt;" in worst
    assert "&lt;svg onload=" in worst
    # ... and in the script-built clip table (textContent): the hostile clip id is row 1
    first_row = dom.split('<tr class="row">')[1].split("</tr>")[0]
    assert first_row.startswith(
        "<td>&lt;svg onload=\"document.body.setAttribute('data-pwned','id')\"&gt;clip</td>"
    )


def test_deep_link_opens_the_rationales_as_text(report: Path, tmp_path: Path) -> None:
    url = report.as_uri() + "#clip=" + quote(HOSTILE_ID, safe="")
    result = chromium(url, tmp_path, "--dump-dom", "--virtual-time-budget=5000")
    dom = result.stdout
    assert console_lines(result.stderr) == []
    assert dom.count('<tr class="row">') == 1 and 'class="detail"' in dom
    detail = dom.split('class="detail"')[1].split("</tr>")[0]
    assert "rationale: &lt;script&gt;" in detail
    assert "&lt;/script&gt;&lt;script&gt;" in detail  # the JSON breaker, as text
    assert 'issues: &lt;img src=x onerror="' in detail
    assert "data-pwned" not in body_tag(dom)


def test_screenshot_is_not_blank_and_shows_plots(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = chromium(report.as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1300,2600")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (2600, 1300)
    background = np.array([0xF6, 0xF7, 0xF9]) / 255
    differs = np.abs(pixels - background).max(axis=2) > 0.03
    assert differs.mean() > 0.3  # sections, text and plots cover much of the page
    assert pixels.std() > 0.1
    # the plots' colours: the first palette blue (#2f6db3) and orange (#d9812b) fill many pixels
    for colour in ("#2f6db3", "#d9812b"):
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
        assert (np.abs(pixels - rgb).max(axis=2) < 0.04).sum() > 2000, colour
