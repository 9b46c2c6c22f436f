"""The ``saboteur`` command line: thin typer commands over the public Python API."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Annotated

import typer

from saboteur import __version__
from saboteur.cli import import_cmd
from saboteur.cli.common import console, friendly
from saboteur.cli.eval_cmd import eval_command, rules_command, show_evaluation

app = typer.Typer(
    name="saboteur",
    help="Multimodal LLM-agent graphs over clips, and the diagnosis of modality sabotage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(import_cmd.app, name="import")
app.command("eval")(eval_command)
app.command("rules")(rules_command)


def _register_command_modules() -> None:
    """Each ``saboteur/cli/*_cmd.py`` module with a ``register(app)`` function adds its own commands."""
    import saboteur.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.endswith("_cmd"):
            module = importlib.import_module(f"saboteur.cli.{info.name}")
            register = getattr(module, "register", None)
            if callable(register):
                register(app)


_register_command_modules()


@app.command("demo")
@friendly
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's runs.")] = Path("runs/demo"),
    graph: Annotated[bool, typer.Option(help="Run the agent graph over the demo clips.")] = True,
) -> None:
    """Run the embedded demo offline: the agent graph over bundled clips, then real CREMA-D votes."""
    from saboteur.demo import run_demo

    if graph:
        console.print(
            "[bold]agent graph over the bundled demo clips[/] (embedded LLM, offline; first run loads models)"
        )
    result = run_demo(out, graph=graph)
    for title, evaluation in result.evaluations.items():
        console.rule(title)
        show_evaluation(evaluation)
    if result.graph_run:
        console.print(f"agent-graph run: {result.graph_run}   (saboteur eval {result.graph_run})")
    console.print(f"CREMA-D run: {result.crema_run}")
    if result.report:
        console.print(f"[bold green]report:[/] {result.report}")


@app.command("version")
def version_command() -> None:
    """Print saboteur's version."""
    console.print(__version__)


def main() -> None:
    """Entry point of the ``saboteur`` script."""
    app()
