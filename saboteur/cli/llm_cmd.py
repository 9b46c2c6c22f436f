"""``saboteur serve`` (the embedded LLM alone) and ``saboteur strategies`` (the prompting strategies)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from saboteur.cli.common import console, err_console, friendly, print_json


@friendly
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback unless --allow-remote).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0 = a free one).")] = 8080,
    model: Annotated[
        Path | None, typer.Option("--model", help="A GGUF file instead of SmolLM2-135M.")
    ] = None,
    log: Annotated[Path | None, typer.Option("--log", help="Write the server's log to this file.")] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: half the cores).")
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (no authentication!).")
    ] = False,
) -> None:
    """Serve the embedded LLM at http://HOST:PORT/v1 until stopped (Ctrl-C)."""
    from saboteur.agents.llm.server import EmbeddedServer

    server = EmbeddedServer(
        model,
        host=host,
        port=port or None,
        log_path=log,
        n_threads=threads,
        allow_remote=allow_remote,
    )

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)  # `kill` stops the server too, not only Ctrl-C
    code: int | None = 0
    try:
        with server:
            console.print(
                f"serving {server.alias} at [bold]{server.base_url}[/] (Ctrl-C to stop)", highlight=False
            )
            console.file.flush()  # a supervising script waits for this line
            code = server.wait()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, None):
        err_console.print(f"the server exited with status {code}")
        raise typer.Exit(1)


def strategies_table(extra: list[Path] | None = None) -> list[dict[str, Any]]:
    """The strategies as rows: name, confidence elicitation, self-assessment, sampling, source."""
    from saboteur.agents.strategies import load_strategies

    return [
        {
            "name": name,
            "description": strategy.description,
            "confidence": strategy.confidence,
            "self_assessment": strategy.self_assessment,
            "samples": strategy.samples,
            "examples": strategy.examples,
            "temperature": strategy.sampling.temperature,
            "max_tokens": strategy.sampling.max_tokens,
            "source": strategy.source,
        }
        for name, strategy in load_strategies(extra or []).items()
    ]


@friendly
def strategies_command(
    prompts: Annotated[
        list[Path] | None, typer.Option("--prompts", help="Extra folder of strategy files (repeatable).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the prompting strategies (built-ins, SABOTEUR_PROMPTS folders, --prompts folders)."""
    rows = strategies_table(prompts)
    if json_output:
        print_json({"strategies": rows})
        return
    table = Table(title="prompting strategies")
    for column in (
        "name",
        "confidence",
        "self-assessment",
        "samples",
        "examples",
        "temperature",
        "description",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            row["confidence"],
            row["self_assessment"],
            str(row["samples"]),
            str(row["examples"]),
            f"{row['temperature']:g}",
            row["description"],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``strategies`` to the ``saboteur`` command."""
    app.command("serve")(serve_command)
    app.command("strategies")(strategies_command)
