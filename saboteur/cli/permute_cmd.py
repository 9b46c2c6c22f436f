"""``saboteur permute``: the leakage-safe Clean-Q vs Broken-Q diagnostic over a run's stored verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from saboteur.cli.common import console, err_console, friendly, print_json, split_list
from saboteur.errors import SaboteurError
from saboteur.eval.permutation import (
    PermutationResult,
    PermutationSettings,
    load_expert_data,
    permutation_test,
    styles,
)
from saboteur.eval.permutation.protocol import Control


def _fmt(value: float, digits: int = 4) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def show_permutation(result: PermutationResult) -> None:
    """The per-fold table and the summary of a diagnostic run."""
    s = result.settings
    control = "" if s.positive_control == "none" else f", positive control {s.positive_control}"
    folds = Table(
        title=f"permutation diagnostic: {s.fusion} over {', '.join(result.experts)}, Q = {result.quality}"
        f"{control}, K = {s.permutations}"
    )
    columns = ("seed", "fold", "n eval", "BA clean", "BA broken", "gap", "p", "BA oracle", "rho", "comp")
    for name in columns:
        folds.add_column(name, justify="right")
    if s.positive_control == "corrupt":
        folds.add_column("corrupted")
    for f in result.folds:
        row = [
            str(f.seed),
            str(f.fold),
            str(f.n_eval),
            _fmt(f.ba_clean),
            _fmt(f.ba_broken_mean),
            f"{f.gap:+.4f}",
            f"{f.p_value:.3g}",
            _fmt(f.ba_oracle),
            _fmt(f.alignment_rho, 3),
            _fmt(f.competitiveness, 3),
        ]
        folds.add_row(*row, *([f.corrupted_expert or "-"] if s.positive_control == "corrupt" else []))
    console.print(folds)
    summary = Table(show_header=False, title="over folds")
    summary.add_row("clips (all experts present)", f"{result.n_clips} ({result.n_full})")
    summary.add_row("BA Clean-Q", _fmt(result.ba_clean))
    summary.add_row("BA Broken-Q (mean)", _fmt(result.ba_broken_mean))
    summary.add_row("permutation gap", f"{result.gap_mean:+.4f} ± {result.gap_std:.4f}")
    summary.add_row(
        "median p-value", f"{result.p_value_median:.3g} ({result.significant_share:.0%} of folds < 0.05)"
    )
    summary.add_row("oracle headroom", f"{result.oracle_headroom:+.4f} (oracle BA {_fmt(result.ba_oracle)})")
    summary.add_row("alignment rho", _fmt(result.alignment_rho, 3))
    summary.add_row("competitiveness", _fmt(result.competitiveness, 3))
    console.print(summary)


def permute_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    control: Annotated[
        str | None,
        typer.Argument(
            help="With --positive-control: corrupt (default) or calibrated.",
            show_default=False,
        ),
    ] = None,
    fusion: Annotated[str, typer.Option(help=f"Fusion style: {', '.join(styles())}.")] = "weighted",
    quality: Annotated[
        str,
        typer.Option(
            help="Q: self_assessment, confidence, a verdict field (extra.intensity), or CSV:path:column."
        ),
    ] = "self_assessment",
    permutations: Annotated[int, typer.Option(help="K Broken-Q permutations per fold.", min=1)] = 200,
    folds: Annotated[int, typer.Option(help="F stratified folds.", min=2)] = 5,
    seeds: Annotated[int, typer.Option(help="S repetitions of the split.", min=1)] = 5,
    seed: Annotated[int, typer.Option(help="Base random seed.")] = 0,
    positive_control: Annotated[
        bool,
        typer.Option(
            "--positive-control", help="Run a positive control (corrupt, or name `calibrated` after it)."
        ),
    ] = False,
    corrupt_expert: Annotated[
        str | None, typer.Option(help="Expert the corrupt control breaks (default: the most accurate).")
    ] = None,
    agents: Annotated[str | None, typer.Option(help="Agents (experts), comma-separated.")] = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy, when the run holds several.")] = None,
    model: Annotated[str | None, typer.Option(help="Model, when the run holds several.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the Broken-Q plot here (PNG and SVG).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Does fusion use the quality scores? Clean-Q vs Broken-Q balanced accuracy, leakage-safe."""
    if positive_control and str(run) in ("corrupt", "calibrated") and control is not None:
        run, control = Path(control), str(run)  # `--positive-control calibrated RUN`
    if control is not None and not positive_control:
        raise SaboteurError(f"unexpected argument {control!r} (name a control after --positive-control)")
    kind: Control = "none"
    if positive_control:
        if control not in (None, "corrupt", "calibrated"):
            raise SaboteurError(f"--positive-control takes corrupt or calibrated, got {control!r}")
        kind = "calibrated" if control == "calibrated" else "corrupt"
    if fusion not in styles():
        raise SaboteurError(f"unknown --fusion {fusion!r}: choose one of {', '.join(styles())}")
    settings = PermutationSettings(
        fusion=fusion,
        permutations=permutations,
        folds=folds,
        seeds=seeds,
        seed=seed,
        positive_control=kind,
        corrupt_expert=corrupt_expert,
    )
    data = load_expert_data(run, quality=quality, agents=split_list(agents), strategy=strategy, model=model)
    if as_json:
        result = permutation_test(data, settings)
    else:
        with Progress(
            TextColumn("[bold]permute[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{fusion}, K = {permutations}", total=folds * seeds)
            result = permutation_test(
                data, settings, progress=lambda done, _: bar.update(task, completed=done)
            )
    stored = result.save(run)
    written = []
    if plot is not None:
        from saboteur.eval.permutation.plots import plot_permutation

        written = plot_permutation(result, plot)
    if as_json:
        extra = {"stored": str(stored), **({"plot": [str(p) for p in written]} if written else {})}
        print_json({**result.to_json(), **extra})
        return
    show_permutation(result)
    console.print(f"stored: {stored} (saboteur report shows it)")
    for path in written:
        console.print(f"plot: {path}")


def register(app: typer.Typer) -> None:
    """Add ``saboteur permute``."""
    app.command("permute")(friendly(permute_command))
