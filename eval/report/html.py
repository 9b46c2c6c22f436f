"""The self-contained ``index.html`` of a report.

Safety rules (agent rationales and clip ids are untrusted text, a model or a dataset wrote them):

- every piece of text put into markup goes through :func:`html.escape`;
- the per-clip data travels as JSON inside ``<script type="application/json">`` with ``<``, ``>`` and
  ``&`` written as ``\\u003c`` etc., so no text can close the script element; the page's own script
  inserts it with ``textContent`` only, never ``innerHTML``;
- a Content-Security-Policy allows only the page's own script (by nonce), inline styles and ``data:``
  images: no request ever leaves the page, and an injected handler could not run even if escaping failed.
"""

from __future__ import annotations

import json
import math
import secrets
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import quote

from saboteur.eval.report.data import PERMUTATION_KEYS, ReportData
from saboteur.eval.report.figures import Figure


def e(value: object) -> str:
    """HTML-escaped text of ``value`` (quotes too, so it is safe in attributes)."""
    return escape(str(value), quote=True)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell; a dash when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def asset(name: str) -> str:
    """Text of a file shipped beside this module (``report.css``, ``report.js``)."""
    return resources.files("saboteur.eval.report").joinpath(name).read_text(encoding="utf-8")


def json_for_script(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (nothing in it can end the element)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _num(value: float | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def figure_html(figure: Figure) -> str:
    """A figure with its title and caption."""
    return (
        f'<figure id="fig-{e(figure.name)}"><figcaption><strong>{e(figure.title)}</strong> '
        f"{e(figure.caption)}</figcaption>{figure.inline_html()}</figure>"
    )


def table_html(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A simple table; every cell is escaped here."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{e(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _figures(data: ReportData, *names: str) -> str:
    return "".join(figure_html(f) for f in data.figures if f.name in names)


def _card(label: str, value: str, note: str = "") -> str:
    small = f"<small>{e(note)}</small>" if note else ""
    return f'<div class="card"><span>{e(label)}</span><b>{e(value)}</b>{small}</div>'


def overview(data: ReportData) -> str:
    """Headline numbers, top-k per rule."""
    ev = data.evaluation
    cards = [
        _card(
            "clips", str(ev.n), f"{ev.clips_without_truth} without truth" if ev.clips_without_truth else ""
        ),
        _card("accuracy", fmt(ev.accuracy), f"rule {ev.rule}"),
        _card("balanced accuracy", fmt(ev.balanced_accuracy)),
        _card("macro-F1", fmt(ev.macro_f1)),
        _card("top-2 / top-3", " / ".join(fmt(v, 2) for v in ev.top_k[1:3]) or "–"),
    ]
    if ev.best_single_agent:
        cards.append(_card("best single agent", fmt(ev.best_single_accuracy), ev.best_single_agent))
    k = len(ev.top_k)
    rows = [[name, *(fmt(v, 3) for v in curve)] for name, curve in data.curves.items()]
    topk = table_html(["rule", *(f"top-{i}" for i in range(1, k + 1))], rows, "num")
    return (
        f'<section id="overview"><h2>Overview</h2><div class="cards">{"".join(cards)}</div>'
        f'<div class="grid2">{_figures(data, "topk")}<div><h3>Top-k coverage per fusion rule</h3>{topk}'
        "</div></div></section>"
    )


def agents_section(data: ReportData) -> str:
    """Per-agent reliability profile with intervals and Shapley shares."""
    rows = []
    for name, p in data.evaluation.per_modality.items():
        shap = p.intervals.get("shapley")
        acc = p.intervals.get("accuracy")
        rows.append(
            [
                name,
                str(p.n_answered),
                str(p.n_errors),
                fmt(p.accuracy),
                f"{fmt(acc.low)}–{fmt(acc.high)}" if acc else "–",
                str(p.contributor),
                str(p.potential_saboteur),
                str(p.successful_saboteur),
                str(p.decisive_contributor),
                str(p.decisive_saboteur),
                fmt(p.shapley),
                f"{fmt(shap.low)}–{fmt(shap.high)}" if shap else "–",
                fmt(p.mean_confidence, 2),
                fmt(p.mean_self_assessment, 2),
            ]
        )
    header = [
        "agent",
        "answered",
        "errors",
        "accuracy",
        "95% CI",
        "contrib.",
        "pot. sab.",
        "succ. sab.",
        "decisive +",
        "decisive −",
        "Shapley",
        "95% CI",
        "mean conf.",
        "mean self",
    ]
    return (
        f'<section id="agents"><h2>Agents</h2><p>Saboteur threshold τ = {e(data.evaluation.tau)}. '
        "Decisive: removing that agent alone flips the fused top-1 between right (+) and wrong (−).</p>"
        f'{table_html(header, rows, "num")}<div class="grid2">{_figures(data, "profile", "shapley")}</div>'
        f"{_figures(data, 'sabotage_matrix')}</section>"
    )


def calibration_section(data: ReportData) -> str:
    """Reliability diagrams, self-assessment vs correctness, and their table."""
    rows = [
        [name, str(c.n), fmt(c.ece), fmt(c.auroc_confidence), fmt(c.auroc_self_assessment)]
        for name, c in data.calibration.items()
    ]
    header = ["agent", "n", "ECE", "AUROC confidence", "AUROC self-assessment"]
    return (
        '<section id="calibration"><h2>Calibration and self-assessment</h2>'
        f'<div class="grid2">{_figures(data, "reliability", "self_assessment")}</div>'
        f'{table_html(header, rows, "num")}<p class="note">AUROC: how well the score ranks right above '
        "wrong answers (0.5 = no better than chance).</p></section>"
    )


def permutation_section(data: ReportData) -> str:
    """The stored permutation diagnostic (``RUN/permutation.json``), when there is one."""
    if data.permutation is None:
        return ""
    values = data.permutation
    rows = [
        [key, fmt(values.get(key)) if isinstance(values.get(key), int | float) else "–"]
        for key in PERMUTATION_KEYS
    ]
    return (
        '<section id="permutation"><h2>Permutation diagnostic (Clean-Q vs Broken-Q)</h2>'
        f'{table_html(["statistic", "value"], rows, "num narrow")}<p class="note">Gap = balanced accuracy '
        "with the true quality signals minus its mean when each agent's quality is permuted; a small gap "
        "with a large oracle headroom means the fusion ignores quality.</p></section>"
    )


def worst_section(data: ReportData) -> str:
    """Clips where a confident successful saboteur flipped the decision."""
    if not data.worst:
        body = "<p>No clip where removing one confident, wrong agent would have made the fusion right.</p>"
    else:
        header = [
            "clip",
            "truth",
            "fused",
            "saboteur",
            "conf.",
            "self",
            "other agents",
            "saboteur's rationale",
        ]
        rows = [
            [
                w.truth,
                w.fused,
                w.saboteur,
                fmt(w.confidence, 2),
                fmt(w.self_assessment, 2),
                ", ".join(f"{a}: {label}" for a, label in w.others.items()),
                w.rationale,
            ]
            for w in data.worst
        ]
        body = "".join(
            f'<tr><td><a href="#clip={e(quote(w.clip_id, safe=""))}">{e(w.clip_id)}</a></td>'
            + "".join(f"<td>{e(c)}</td>" for c in row)
            + "</tr>"
            for w, row in zip(data.worst, rows, strict=True)
        )
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = f'<table class="cases"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return (
        '<section id="worst"><h2>Worst sabotage cases</h2><p>A confident agent was wrong, its label won the '
        "fused vote, and without it the fusion would have been right. Most confident first.</p>"
        f"{body}</section>"
    )


def clips_section(data: ReportData) -> str:
    """The sortable, filterable per-clip table (rendered by the page's script from JSON)."""
    labels = data.table.labels.labels
    options = "".join(f'<option value="{e(label)}">{e(label)}</option>' for label in labels)
    shown = len(data.clips)
    note = (
        f"<p class='note'>The first {shown} of {data.clips_total} clips are listed.</p>"
        if shown < data.clips_total
        else ""
    )
    payload = {
        "agents": data.table.agents,
        "rows": [
            [
                row.clip_id,
                row.truth,
                row.fused,
                _num(row.fused_probability),
                row.correct,
                row.saboteurs,
                [
                    [
                        c.label,
                        _num(c.confidence),
                        _num(c.self_assessment),
                        c.issues,
                        c.self_rationale,
                        c.rationale,
                        c.error,
                    ]
                    for c in row.agents
                ],
            ]
            for row in data.clips
        ],
    }
    return (
        '<section id="clips"><h2>Clips</h2>'
        f"{note}<div class='controls'><input id='clip-filter' type='search' "
        "placeholder='filter: clip id, label, rationale…' aria-label='filter'>"
        "<select id='clip-outcome' aria-label='outcome'><option value=''>all outcomes</option>"
        "<option value='right'>fused right</option><option value='wrong'>fused wrong</option>"
        "<option value='sabotaged'>with a successful saboteur</option></select>"
        f"<select id='clip-truth' aria-label='true label'><option value=''>all true labels</option>{options}"
        "</select><span id='clip-count' class='note'></span></div>"
        "<div class='scroll'><table id='clip-table' class='clips'><thead></thead><tbody></tbody>"
        "</table></div>"
        "<div class='pager'><button id='clip-prev' type='button'>‹ previous</button>"
        "<span id='clip-page'></span><button id='clip-next' type='button'>next ›</button></div>"
        "<p class='note'>Click a column to sort, a row to read every agent's rationale and self-assessment."
        "</p><noscript><p>The clip table needs JavaScript; report.md lists the worst cases.</p></noscript>"
        f'<script type="application/json" id="clip-data">{json_for_script(payload)}</script></section>'
    )


def _notes(data: ReportData) -> str:
    report = data.load_report
    items = []
    if report.malformed:
        items.append(f"{report.malformed} malformed verdict line(s) skipped")
    if report.torn_tail:
        items.append("a torn last line of verdicts.jsonl was ignored")
    if report.duplicates:
        items.append(f"{report.duplicates} duplicate verdict(s) resolved")
    if report.errors:
        items.append(f"{report.errors} error verdict(s) (agents that failed; left out of fusion)")
    if data.evaluation.unknown_labels:
        shown = ", ".join(f"{k} ({v})" for k, v in list(data.evaluation.unknown_labels.items())[:10])
        items.append(f"labels outside the label set (not fused): {shown}")
    if not items:
        return ""
    return (
        "<section id='notes'><h2>Notes</h2><ul>"
        + "".join(f"<li>{e(i)}</li>" for i in items)
        + "</ul></section>"
    )


def render_html(data: ReportData) -> str:
    """The whole page."""
    nonce = secrets.token_urlsafe(18)
    ev = data.evaluation
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'"
    )
    meta = (
        f"{e(ev.strategy)} / {e(ev.model)} · agents {e(', '.join(ev.agents))} · labels "
        f"{e(', '.join(ev.labels))} · fusion rule <code>{e(ev.rule)}</code> · run <code>"
        f"{e(data.run.path)}</code>"
    )
    nav = "".join(
        f'<a href="#{anchor}">{title}</a>'
        for anchor, title in (
            ("overview", "Overview"),
            ("agents", "Agents"),
            ("calibration", "Calibration"),
            *((("permutation", "Permutation"),) if data.permutation is not None else ()),
            ("worst", "Worst cases"),
            ("clips", "Clips"),
        )
    )
    body = "".join(
        (
            overview(data),
            agents_section(data),
            calibration_section(data),
            permutation_section(data),
            worst_section(data),
            clips_section(data),
            _notes(data),
        )
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{e(data.title)}</title><style>{asset('report.css')}</style></head>"
        f"<body><header><h1>{e(data.title)}</h1><p class='meta'>{meta}</p><nav>{nav}</nav></header>"
        f"<main>{body}</main><pre id='js-errors' hidden></pre>"
        f"<footer>Made by saboteur from stored verdicts; no model was called.</footer>"
        f'<script nonce="{nonce}">{asset("report.js")}</script></body></html>\n'
    )
