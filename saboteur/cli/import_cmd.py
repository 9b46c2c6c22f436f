"""``saboteur import``: external agent outputs become native verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from saboteur.cli.common import console, friendly, print_json, short
from saboteur.eval.importers import ImportReport, import_crema_d, import_paper_json

app = typer.Typer(help="Import external agent outputs into a run directory.", no_args_is_help=True)

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Run directory to create.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _show(report: ImportReport, out: Path, as_json: bool) -> None:
    if as_json:
        print_json({"run": str(out), **report.model_dump()})
        return
    table = Table(title=f"imported {report.source} -> {out}", show_header=False)
    table.add_row("samples", str(report.samples))
    table.add_row("verdicts", f"{report.verdicts} ({report.errors} error verdicts)")
    table.add_row("skipped", f"{report.skipped_samples} samples, {report.skipped_results} agent results")
    table.add_row("labels", ", ".join(short(label) for label in report.labels))
    if report.unknown_labels:
        shown = ", ".join(f"{short(k)} ({v})" for k, v in list(report.unknown_labels.items())[:10])
        table.add_row("outside label set", shown)
    console.print(table)
    for problem in report.problems[:10]:
        console.print(f"  [yellow]skipped[/] {problem}", highlight=False)


@app.command("paper-json")
@friendly
def paper_json(
    files: Annotated[list[Path], typer.Argument(help="paper-json files (formats.md section 1).")],
    out: OutOption,
    labels: Annotated[
        str | None, typer.Option(help="Label set: built-in name or a,b,c (default: the labels used).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Backbone name (default: from the file name).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Import the per-sample agent outputs released with arXiv 2511.02794."""
    _show(import_paper_json(files, out, labels=labels, model=model), out, as_json)


@app.command("crema-d")
@friendly
def crema_d(
    source: Annotated[Path, typer.Argument(help="Folder holding tabulatedVotes.csv (or the file).")],
    out: OutOption,
    as_json: JsonOption = False,
) -> None:
    """Import CREMA-D crowd votes as agents voice, face and av."""
    _show(import_crema_d(source, out), out, as_json)
