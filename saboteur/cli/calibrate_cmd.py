"""``saboteur calibrate``: calibration of confidence and self-assessment over stored verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from saboteur.cli.common import console, friendly, print_json, split_list
from saboteur.cli.eval_cmd import report_load
from saboteur.errors import SaboteurError
from saboteur.eval.calibration import (
    CALIBRATORS,
    CalibrationData,
    CalibrationReport,
    calibrate,
    write_plots,
    write_rows,
)
from saboteur.eval.calibration.data import check_field
from saboteur.eval.load import load_table


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def show_calibration(result: CalibrationReport) -> None:
    """Human tables of a calibration report."""
    table = Table(title=f"calibration ({result.strategy} / {result.model}; {result.bins} equal-width bins)")
    columns = ("agent", "n", "acc", "conf", "ECE", "95% CI", "MCE", "Brier", "AUROC", "AUROC self", "AURC")
    for column in columns:
        table.add_column(column, justify="left" if column == "agent" else "right")
    for agent, group in result.per_modality.items():
        f, ece = group.figures, group.intervals.get("ece")
        table.add_row(
            agent,
            str(group.n),
            _fmt(f["accuracy"]),
            _fmt(f["mean_confidence"]),
            _fmt(f["ece"]),
            f"{ece.low:.3f}-{ece.high:.3f}" if ece else "-",
            _fmt(f["mce"]),
            _fmt(f["brier"]),
            _fmt(f["auroc_confidence"]),
            _fmt(f["auroc_self_assessment"]),
            _fmt(f["aurc"]),
        )
    console.print(table)
    for method, agents in result.recalibration.items():
        recal = Table(title=f"held-out {method} recalibration ({result.folds}-fold cross-fitted)")
        for column in ("agent", "ECE before", "ECE after", "change (95% CI)", "Brier before", "Brier after"):
            recal.add_column(column, justify="left" if column == "agent" else "right")
        for agent, effect in agents.items():
            change = effect.change["ece"]
            recal.add_row(
                agent,
                _fmt(effect.before["ece"]),
                _fmt(effect.after["ece"]),
                f"{change.value:+.3f} ({change.low:+.3f}, {change.high:+.3f})",
                _fmt(effect.before["brier"]),
                _fmt(effect.after["brier"]),
            )
        console.print(recal)
    if result.sabotage:
        s = result.sabotage
        sab = Table(title=f"sabotage before/after {s.method} recalibration (tau = {s.tau})")
        for column in ("agent", "potential", "potential after", "successful", "successful after"):
            sab.add_column(column, justify="left" if column == "agent" else "right")
        for agent in s.before.potential_saboteur:
            sab.add_row(
                agent,
                str(s.before.potential_saboteur[agent]),
                str(s.after.potential_saboteur[agent]),
                str(s.before.successful_saboteur[agent]),
                str(s.after.successful_saboteur[agent]),
            )
        sab.add_row("fused accuracy", _fmt(s.before.fused_accuracy), _fmt(s.after.fused_accuracy), "", "")
        console.print(sab)


def calibrate_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plots: Annotated[
        Path | None, typer.Option(help="Write reliability, self-assessment and risk-coverage plots here.")
    ] = None,
    table: Annotated[
        Path | None, typer.Option("--table", help="Write the tidy table of all figures (.csv or .parquet).")
    ] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy, when the run holds several.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, when the run holds several.")] = None,
    agents: Annotated[str | None, typer.Option(help="Agents to study, comma-separated.")] = None,
    bins: Annotated[int, typer.Option(help="Equal-width bins of ECE/MCE.")] = 10,
    by: Annotated[
        str | None,
        typer.Option(help="Also group by these verdict fields (e.g. truth,label,extra.intensity)."),
    ] = None,
    method: Annotated[
        str, typer.Option(help=f"Recalibration for the sabotage comparison: {', '.join(CALIBRATORS)}.")
    ] = "platt",
    folds: Annotated[int, typer.Option(help="Cross-fitting folds.")] = 5,
    tau: Annotated[float, typer.Option(help="Confidence threshold of a potential saboteur.")] = 0.7,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of folds and resamples.")] = 0,
) -> None:
    """Calibration of confidence and self-assessment, cross-fitted recalibration, sabotage before/after."""
    if method not in CALIBRATORS:
        raise SaboteurError(f"--method must be one of {', '.join(CALIBRATORS)}, got {method!r}")
    if resamples < 0:
        raise SaboteurError(f"--resamples must be >= 0, got {resamples}")
    if bins < 1:
        raise SaboteurError(f"--bins must be at least 1, got {bins}")
    if table is not None and table.suffix not in (".csv", ".parquet"):
        raise SaboteurError(f"{table}: the table must end in .csv or .parquet")
    fields = [check_field(name) for name in split_list(by) or []]
    loaded = load_table(run, agents=split_list(agents), strategy=strategy, model=model)
    report_load(loaded.report)
    verdicts = loaded.verdicts if fields else None
    result = calibrate(
        loaded.table,
        verdicts=verdicts,
        by=fields,
        bins=bins,
        sabotage_method=method,
        folds=folds,
        tau=tau,
        resamples=resamples,
        seed=seed,
    )
    written = []
    if table is not None:
        written.append(write_rows(result.rows(), table))
    if plots is not None:
        data = CalibrationData.from_table(loaded.table)
        title = f"{loaded.run.path.name}: {loaded.table.strategy} / {loaded.table.model}"
        written += write_plots(data, plots, bins=bins, title=title)
    if as_json:
        payload = result.to_json()
        payload["files"] = [str(path) for path in written]
        print_json(payload)
        return
    show_calibration(result)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    for path in written:
        console.print(f"wrote {path}")


calibrate_command = friendly(calibrate_command)


def register(app: typer.Typer) -> None:
    """Add ``saboteur calibrate``."""
    app.command("calibrate")(calibrate_command)
