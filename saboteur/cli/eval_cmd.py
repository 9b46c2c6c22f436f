"""``saboteur eval`` and ``saboteur rules``: fusion + evaluation over stored verdicts, no model calls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from saboteur.cli.common import console, err_console, friendly, print_json, short, split_list
from saboteur.errors import SaboteurError
from saboteur.eval.evaluate import Evaluation, evaluate_run
from saboteur.eval.fusion import rules
from saboteur.rundir import LoadReport


def report_load(report: LoadReport) -> None:
    """Warn on stderr about what reading the store skipped (torn tail, malformed lines, duplicates)."""
    if report.torn_tail:
        err_console.print("[yellow]warning:[/] the last line of verdicts.jsonl is torn (a crash); ignored")
    if report.malformed:
        lines = ", ".join(str(n) for n in report.malformed_lines)
        err_console.print(
            f"[yellow]warning:[/] {report.malformed} malformed verdict line(s) skipped: {lines}"
        )
    if report.duplicates:
        err_console.print(f"[yellow]note:[/] {report.duplicates} duplicate verdict(s) resolved")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def show_evaluation(result: Evaluation) -> None:
    """Human tables of an evaluation."""
    overview = Table(title=f"fusion rule '{result.rule}' over {', '.join(result.agents)}", show_header=False)
    overview.add_row("clips", str(result.n))
    overview.add_row("strategy / model", f"{result.strategy} / {result.model}")
    overview.add_row("accuracy", _fmt(result.accuracy))
    overview.add_row("balanced accuracy", _fmt(result.balanced_accuracy))
    overview.add_row("macro-F1", _fmt(result.macro_f1))
    overview.add_row("top-k (k=1..)", " / ".join(f"{v:.2f}" for v in result.top_k))
    if result.best_single_agent:
        overview.add_row(
            "best single agent", f"{result.best_single_agent} ({_fmt(result.best_single_accuracy)})"
        )
    if result.no_prediction:
        overview.add_row("no prediction", f"{result.no_prediction} clips (no agent answered)")
    console.print(overview)

    agents = Table(title=f"attribution (tau = {result.tau}; dec = removing the agent flips the outcome)")
    for column in (
        "agent",
        "n",
        "acc",
        "contrib",
        "pot.sab",
        "succ.sab",
        "dec+",
        "dec-",
        "Shapley",
        "95% CI",
    ):
        agents.add_column(column, justify="left" if column == "agent" else "right")
    for name, p in result.per_modality.items():
        shap = p.intervals.get("shapley")
        ci = f"{shap.low:.3f}-{shap.high:.3f}" if shap else "-"
        agents.add_row(
            name,
            str(p.n_answered),
            _fmt(p.accuracy),
            str(p.contributor),
            str(p.potential_saboteur),
            str(p.successful_saboteur),
            str(p.decisive_contributor),
            str(p.decisive_saboteur),
            f"{p.shapley:.3f}",
            ci,
        )
    console.print(agents)
    if result.flagged_clips:
        ids = ", ".join(list(result.flagged_clips)[:10])
        console.print(
            f"[yellow]audit:[/] {len(result.flagged_clips)} clip(s) whose media text reads like instructions "
            f"to a model (possible prompt injection): {ids}"
        )
    if result.unknown_labels:
        shown = ", ".join(f"{short(k)} ({v})" for k, v in list(result.unknown_labels.items())[:8])
        console.print(f"[yellow]labels outside the set (not fused):[/] {shown}")


def eval_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    rule: Annotated[str, typer.Option(help="Fusion rule (see `saboteur rules`).")] = "confidence",
    tau: Annotated[float, typer.Option(help="Confidence threshold of a potential saboteur.")] = 0.7,
    agents: Annotated[str | None, typer.Option(help="Agents to fuse, comma-separated, in order.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy, when the run holds several.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, when the run holds several.")] = None,
    ties: Annotated[
        str,
        typer.Option(help="Tie order: first-seen (the rule's, as in the paper) or label (label-set order)."),
    ] = "first-seen",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fuse stored verdicts, score the fused ranking and attribute contributors and saboteurs."""
    if ties not in ("first-seen", "label"):
        raise SaboteurError(f"--ties must be first-seen or label, got {ties!r}")
    result, report = evaluate_run(
        run,
        rule,
        tau,
        agents=split_list(agents),
        strategy=strategy,
        model=model,
        ties="label" if ties == "label" else None,
    )
    report_load(report)
    if as_json:
        print_json(result.to_json())
    else:
        show_evaluation(result)


def rules_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the registered fusion rules."""
    registered = rules()
    if as_json:
        print_json({name: {"ties": r.ties, "description": r.description} for name, r in registered.items()})
        return
    table = Table("rule", "ties", "description")
    for name, r in registered.items():
        table.add_row(name, r.ties, r.description)
    console.print(table)


eval_command = friendly(eval_command)
