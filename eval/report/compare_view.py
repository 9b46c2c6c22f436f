"""A comparison of two runs as a report section: Markdown, a self-contained HTML page, a forest plot."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from saboteur.eval.report.compare import Comparison, Delta
from saboteur.eval.report.figures import STYLE, Figure, render
from saboteur.eval.report.html import asset, e, figure_html, fmt, table_html
from saboteur.eval.report.markdown import table as md_table


def delta_rows(c: Comparison) -> list[tuple[str, Delta, str]]:
    """(name, delta, p-value text) for every compared statistic, headline first."""
    rows: list[tuple[str, Delta, str]] = [
        ("top-1 accuracy", c.accuracy, f"McNemar p = {c.mcnemar.p_value:.2g}"),
        ("balanced accuracy", c.balanced_accuracy, ""),
    ]
    rows += [(f"top-{k}", d, "") for k, d in enumerate(c.top_k[1:], start=2)]
    rows.append(("ECE (lower is better)", c.ece, ""))
    rows += [
        (f"agent {a} accuracy", d.accuracy, f"McNemar p = {d.mcnemar.p_value:.2g}")
        for a, d in c.per_agent.items()
    ]
    rows += [
        (f"recall {label} (n={d.n})", d.recall, f"McNemar p = {d.mcnemar.p_value:.2g}")
        for label, d in c.per_label.items()
    ]
    return rows


def forest_figure(c: Comparison) -> Figure:
    """Every B - A difference with its paired-bootstrap 95% interval."""
    rows = delta_rows(c)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.26 * len(rows)))
        y = np.arange(len(rows))
        deltas = np.array([d.delta for _, d, _ in rows])
        low = np.array([d.low for _, d, _ in rows])
        high = np.array([d.high for _, d, _ in rows])
        excludes_zero = (low > 0) | (high < 0)
        for flag, color in ((False, "#2f6db3"), (True, "#b8434a")):
            sel = excludes_zero == flag
            if sel.any():
                err = np.nan_to_num(np.vstack([deltas[sel] - low[sel], high[sel] - deltas[sel]]))
                ax.errorbar(deltas[sel], y[sel], xerr=err, fmt="o", ms=4, color=color, lw=1.2, capsize=2)
        ax.axvline(0, color="#444", lw=0.8)
        ax.set_yticks(y, [name for name, _, _ in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("B − A (paired bootstrap 95% interval)")
        return render(
            fig,
            "compare_deltas",
            "Differences B − A",
            f"A = {c.name_a}; B = {c.name_b}. Red: the interval excludes 0.",
        )


def comparison_markdown(c: Comparison) -> str:
    """The comparison as a Markdown section."""
    rows = [
        [name, fmt(d.a), fmt(d.b), f"{d.delta:+.3f}", f"{d.low:+.3f} to {d.high:+.3f}", p]
        for name, d, p in delta_rows(c)
    ]
    return "\n".join(
        [
            "## Comparison",
            "",
            f"A = {c.name_a}; B = {c.name_b}; fusion rule `{c.rule}`"
            + (f" (B: `{c.rule_b}`)" if c.rule_b != c.rule else "")
            + f"; {c.n} paired clips"
            + (f" ({c.only_a} only in A, {c.only_b} only in B left out)" if c.only_a or c.only_b else "")
            + ".",
            "",
            f"**{c.statement}**",
            "",
            md_table(["statistic", "A", "B", "B - A", "95% CI", "test"], rows),
            "",
        ]
    )


def comparison_html(c: Comparison, figure: Figure | None = None) -> str:
    """A self-contained page (no script at all) with the comparison."""
    figure = figure or forest_figure(c)
    rows = [
        [
            name,
            fmt(d.a),
            fmt(d.b),
            f"{d.delta:+.3f}",
            f"{d.low:+.3f} to {d.high:+.3f}",
            f"{d.p_b_higher:.1%}",
            p,
        ]
        for name, d, p in delta_rows(c)
    ]
    header = ["statistic", "A", "B", "B − A", "95% CI", "replicates B > A", "test"]
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'"
    left_out = f" ({c.only_a} clips only in A, {c.only_b} only in B left out)" if c.only_a or c.only_b else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        f"<title>saboteur compare</title><style>{asset('report.css')}</style></head><body>"
        f"<header><h1>saboteur compare</h1><p class='meta'>A = {e(c.name_a)}<br>B = {e(c.name_b)}<br>"
        f"fusion rule {e(c.rule)}{e(' / ' + c.rule_b if c.rule_b != c.rule else '')}; {c.n} paired clips"
        f"{e(left_out)}</p></header><main><section id='verdict'><h2>Which is better</h2>"
        f"<p class='statement'>{e(c.statement)}</p>{table_html(header, rows, 'num')}</section>"
        f"<section id='deltas'>{figure_html(figure)}</section></main></body></html>\n"
    )


def write_comparison(c: Comparison, out: str | os.PathLike[str]) -> Path:
    """Write ``compare.html``, ``compare.md``, ``compare.json`` and the figure into ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    figure = forest_figure(c)
    (folder / figure.filename).write_bytes(figure.data())
    (folder / "compare.md").write_text(
        comparison_markdown(c) + f"\n![{figure.title}]({figure.filename})\n", encoding="utf-8"
    )
    (folder / "compare.json").write_text(c.model_dump_json(indent=2), encoding="utf-8")
    page = folder / "compare.html"
    page.write_text(comparison_html(c, figure), encoding="utf-8")
    return page
