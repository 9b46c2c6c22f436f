"""``saboteur run``: a manifest through the agent graph, with a live progress display."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from saboteur.cli.common import console, err_console, friendly, print_json, split_list
from saboteur.graph.api import MODALITIES, describe, run
from saboteur.graph.manifest import ManifestReader
from saboteur.graph.runner import RunSummary


@friendly
def run_command(
    manifest: Annotated[Path, typer.Argument(help="Manifest (CSV or JSONL, one clip per row).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (re-use it to resume).")],
    labels: Annotated[str, typer.Option(help="Label set: built-in name or a,b,c.")] = "meld",
    modalities: Annotated[str, typer.Option(help="Agents, comma-separated.")] = ",".join(MODALITIES),
    strategy: Annotated[
        str, typer.Option(help="Prompting strategy, or several comma-separated.")
    ] = "zero_shot",
    model: Annotated[str | None, typer.Option(help="Model name, or several comma-separated.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server (default: OPENAI_BASE_URL, else embedded).")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="LLM calls in flight at once.")] = 4,
    joint: Annotated[bool, typer.Option(help="Also run the joint agent that sees every modality.")] = False,
    executor: Annotated[str, typer.Option(help="local, or ray (a Ray cluster; see the README).")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (default: RAY_ADDRESS, else a local one).")
    ] = None,
    ray_workers: Annotated[
        int | None, typer.Option(help="Ray clip workers (default: one per 2 CPUs of the cluster).")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per LLM call attempt.")] = None,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts per LLM call for 429/5xx/timeouts (first included).")
    ] = None,
    retry_errors: Annotated[
        bool, typer.Option(help="Call the model again where a stored verdict is an error.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object at the end.")] = False,
) -> None:
    """Run the modality agents over every clip; re-running the same command resumes."""
    total = ManifestReader(manifest).count()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("[red]{task.fields[errors]}"),
        TimeRemainingColumn(),
    )
    started = time.perf_counter()
    with Progress(*columns, console=err_console, disable=as_json, transient=False) as bar:
        task = bar.add_task("clips", total=total, rate="", errors="")

        def on_progress(event: str, summary: RunSummary) -> None:
            elapsed = max(1e-6, time.perf_counter() - started)
            bar.update(
                task,
                completed=summary.clips_done,
                rate=f"{summary.calls_made / elapsed:.1f} calls/s",
                errors=f"{summary.errors} errors" if summary.errors else "",
            )

        summary = run(
            manifest,
            out,
            labels=labels,
            modalities=split_list(modalities) or [],
            strategies=split_list(strategy) or ["zero_shot"],
            models=split_list(model),
            base_url=base_url,
            concurrency=concurrency,
            joint=joint,
            executor=executor,
            ray_address=ray_address,
            ray_workers=ray_workers,
            progress=on_progress,
            retry_errors=retry_errors,
            backend_options={
                key: value
                for key, value in (("timeout_s", timeout), ("max_attempts", max_attempts))
                if value is not None
            },
        )
    if as_json:
        print_json({"run": str(out), **describe(summary)})
        return
    for issue in summary.manifest_issues[:20]:
        verb = "skipped" if issue.skipped else "note"
        err_console.print(f"[yellow]{verb}[/] row {issue.row} ({issue.clip_id or '?'}): {issue.problem}")
    if summary.unknown_columns:
        err_console.print(
            f"[yellow]note:[/] unknown manifest columns ignored: {', '.join(summary.unknown_columns)}"
        )
    console.print(
        f"{summary.status}: {summary.clips_done}/{summary.clips} clips, "
        f"{summary.calls_made} new agent calls, {summary.from_store} answered from the store, "
        f"{summary.errors} error verdicts, {summary.wall_s:.1f} s"
    )
    console.print(f"next: saboteur eval {out}")
    if summary.status == "interrupted":
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add ``saboteur run``."""
    app.command("run")(run_command)
