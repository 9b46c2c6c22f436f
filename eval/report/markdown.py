"""``RUN/report/report.md``: the same report as Markdown, for a pull request, a wiki or a terminal.

Agent text is untrusted; Markdown renderers pass raw HTML through, so every cell is HTML-escaped, its
pipes and line breaks neutralised, and long rationales shortened.
"""

from __future__ import annotations

from html import escape

from saboteur.eval.report.data import PERMUTATION_KEYS, ReportData
from saboteur.eval.report.html import fmt

MAX_CELL = 240


def cell(value: object, limit: int = MAX_CELL) -> str:
    """One table cell: escaped, single-line, pipes escaped, at most ``limit`` characters."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text, quote=False).replace("|", "\\|")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(data: ReportData, figure_dir: str = "figures") -> str:
    """The report as Markdown; figures are linked from ``figure_dir`` (relative to the report)."""
    ev = data.evaluation
    figures = {f.name: f for f in data.figures}

    def figure(name: str) -> str:
        f = figures.get(name)
        return f"![{cell(f.title)}]({figure_dir}/{f.filename})\n\n*{cell(f.caption, 600)}*\n" if f else ""

    k = len(ev.top_k)
    out = [
        f"# {cell(data.title)}",
        "",
        f"{cell(ev.strategy)} / {cell(ev.model)}; agents {cell(', '.join(ev.agents))}; fusion rule "
        f"`{cell(ev.rule)}`; {ev.n} clips with a known truth.",
        "",
        "## Overview",
        "",
        table(
            ["accuracy", "balanced accuracy", "macro-F1", "best single agent"],
            [
                [
                    fmt(ev.accuracy),
                    fmt(ev.balanced_accuracy),
                    fmt(ev.macro_f1),
                    f"{ev.best_single_agent or '-'} ({fmt(ev.best_single_accuracy)})",
                ]
            ],
        ),
        "",
        table(
            ["rule", *(f"top-{i}" for i in range(1, k + 1))],
            [[name, *(fmt(v) for v in curve)] for name, curve in data.curves.items()],
        ),
        "",
        figure("topk"),
        "## Agents",
        "",
        table(
            [
                "agent",
                "answered",
                "accuracy",
                "contributor",
                "potential sab.",
                "successful sab.",
                "decisive +",
                "decisive -",
                "Shapley",
                "Shapley 95% CI",
            ],
            [
                [
                    name,
                    str(p.n_answered),
                    fmt(p.accuracy),
                    str(p.contributor),
                    str(p.potential_saboteur),
                    str(p.successful_saboteur),
                    str(p.decisive_contributor),
                    str(p.decisive_saboteur),
                    fmt(p.shapley),
                    _ci(p.intervals.get("shapley")),
                ]
                for name, p in ev.per_modality.items()
            ],
        ),
        "",
        figure("profile"),
        figure("shapley"),
        figure("sabotage_matrix"),
        "## Calibration and self-assessment",
        "",
        table(
            ["agent", "n", "ECE", "AUROC confidence", "AUROC self-assessment"],
            [
                [name, str(c.n), fmt(c.ece), fmt(c.auroc_confidence), fmt(c.auroc_self_assessment)]
                for name, c in data.calibration.items()
            ],
        ),
        "",
        figure("reliability"),
        figure("self_assessment"),
    ]
    if data.permutation is not None:
        values = data.permutation
        out += [
            "## Permutation diagnostic",
            "",
            table(
                ["statistic", "value"],
                [
                    [key, fmt(values[key]) if isinstance(values.get(key), int | float) else "-"]
                    for key in PERMUTATION_KEYS
                ],
            ),
            "",
        ]
    out += ["## Worst sabotage cases", ""]
    if data.worst:
        out.append(
            table(
                ["clip", "truth", "fused", "saboteur", "conf.", "self", "others", "rationale"],
                [
                    [
                        w.clip_id,
                        w.truth,
                        w.fused,
                        w.saboteur,
                        fmt(w.confidence, 2),
                        fmt(w.self_assessment, 2),
                        ", ".join(f"{a}: {lab}" for a, lab in w.others.items()),
                        w.rationale,
                    ]
                    for w in data.worst
                ],
            )
        )
    else:
        out.append("No clip where removing one confident, wrong agent would have made the fusion right.")
    out += ["", "The full per-clip table is in index.html.", ""]
    return "\n".join(out)


def _ci(interval: object) -> str:
    low, high = getattr(interval, "low", None), getattr(interval, "high", None)
    return f"{fmt(low)} to {fmt(high)}" if low is not None and high is not None else "-"
