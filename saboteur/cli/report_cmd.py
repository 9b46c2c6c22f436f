"""``saboteur report`` and ``saboteur compare``: reports of stored verdicts, paired comparison of runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from saboteur.cli.common import console, friendly, print_json, split_list

if TYPE_CHECKING:
    from saboteur.eval.report.compare import Comparison

RESAMPLES = 2000
"""Default paired-bootstrap resamples (the plotting/statistics stack is imported only when used)."""


def report_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the report (default RUN/report).")
    ] = None,
    rule: Annotated[str, typer.Option(help="Fusion rule of the evaluation.")] = "confidence",
    tau: Annotated[float, typer.Option(help="Confidence threshold of a potential saboteur.")] = 0.7,
    agents: Annotated[str | None, typer.Option(help="Agents to fuse, comma-separated, in order.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy, when the run holds several.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, when the run holds several.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write a self-contained HTML report (and report.md) of a run's stored verdicts."""
    from saboteur.eval.report.build import build_report

    index = build_report(
        run, out, rule=rule, tau=tau, agents=split_list(agents), strategy=strategy, model=model
    )
    if as_json:
        print_json({"index": str(index), "markdown": str(index.parent / "report.md")})
    else:
        console.print(f"report: {index}")
        console.print(f"markdown: {index.parent / 'report.md'}")


def show_comparison(c: Comparison) -> None:
    """Human table of a comparison."""
    from saboteur.eval.report.compare_view import delta_rows

    rules = c.rule if c.rule == c.rule_b else f"{c.rule} / {c.rule_b}"
    table = Table(title=escape(f"A = {c.name_a}\nB = {c.name_b}\n{c.n} paired clips, rule {rules}"))
    for column in ("statistic", "A", "B", "B - A", "95% CI", "test"):
        table.add_column(column, justify="left" if column in ("statistic", "test") else "right")
    for name, d, test in delta_rows(c):
        table.add_row(
            name, f"{d.a:.3f}", f"{d.b:.3f}", f"{d.delta:+.3f}", f"{d.low:+.3f} to {d.high:+.3f}", test
        )
    console.print(table)
    if c.only_a or c.only_b or c.truth_mismatch:
        console.print(
            f"[yellow]left out:[/] {c.only_a} clips only in A, {c.only_b} only in B, "
            f"{c.truth_mismatch} with different truths"
        )
    console.print(f"[bold]{escape(c.statement)}[/]", highlight=False)


def compare_command(
    run_a: Annotated[Path, typer.Argument(help="First run directory (A).")],
    run_b: Annotated[Path, typer.Argument(help="Second run directory (B); may be A again.")],
    rule: Annotated[str, typer.Option(help="Fusion rule.")] = "confidence",
    agents: Annotated[str | None, typer.Option(help="Agents to fuse, comma-separated, in order.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy, when a run holds several.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, when a run holds several.")] = None,
    rule_b: Annotated[str | None, typer.Option(help="Fusion rule of B (default: --rule).")] = None,
    agents_b: Annotated[str | None, typer.Option(help="Agents of B (default: --agents).")] = None,
    strategy_b: Annotated[str | None, typer.Option(help="Strategy of B (default: --strategy).")] = None,
    model_b: Annotated[str | None, typer.Option(help="Model of B (default: --model).")] = None,
    resamples: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = RESAMPLES,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write compare.html/.md/.json and a plot here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Paired comparison of two runs over the same clips: which is better, and how sure."""
    from saboteur.eval.report.compare import compare_runs
    from saboteur.eval.report.compare_view import write_comparison

    result = compare_runs(
        run_a,
        run_b,
        rule=rule,
        agents=split_list(agents),
        strategy=strategy,
        model=model,
        rule_b=rule_b,
        agents_b=split_list(agents_b),
        strategy_b=strategy_b,
        model_b=model_b,
        resamples=resamples,
        seed=seed,
    )
    page = write_comparison(result, out) if out is not None else None
    if as_json:
        data = result.to_json()
        if page is not None:
            data["html"] = str(page)
        print_json(data)
        return
    show_comparison(result)
    if page is not None:
        console.print(f"comparison: {page}")


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``compare`` to the CLI."""
    app.command("report")(friendly(report_command))
    app.command("compare")(friendly(compare_command))
