"""``saboteur perceive MEDIA``: run the perception tools on one file and show what they found."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from saboteur.cli.common import console, err_console, friendly, print_json
from saboteur.errors import SaboteurError


def _show(result: Any) -> None:
    """Human output: one section per tool, reasons for what is unavailable."""
    data = result.to_json()
    info = data["info"]
    if info:
        length = f"{info['duration_s']:.1f} s" if info["duration_s"] else "still"
        size = f", {info['width']}x{info['height']}" if info["width"] else ""
        console.print(f"[bold]{data['media']}[/]: {info['kind']}, {length}{size}", highlight=False)
    for name in ("transcript", "audio", "frames"):
        part = data[name]
        if part["reason"] == f"the {name} tool was not run":
            continue
        seconds = data["seconds"].get(name)
        timing = f" [dim]({seconds:.1f} s)[/]" if seconds is not None else ""
        if not part["available"]:
            console.rule(f"{name}: unavailable{timing}")
            console.print(f"[yellow]{part['reason']}[/]", highlight=False)
            if name == "audio" and part["tags"]:
                console.print("tags: " + ", ".join(t["label"] for t in part["tags"]), highlight=False)
            continue
        console.rule(f"{name} (quality {part['quality']:.2f}){timing}")
        if name == "transcript":
            console.print(part["text"], highlight=False)
            console.print(f"[dim]language {part['language']}, {len(part['words'])} words[/]")
        elif name == "audio":
            console.print(part["description"], highlight=False)
            table = Table("feature", "value", "feature", "value", show_header=False, box=None)
            items = [(k, "-" if v is None else f"{v:g}") for k, v in part["features"].items()]
            for left, right in zip(items[::2], [*items[1::2], ("", "")], strict=False):
                table.add_row(*left, *right)
            console.print(table)
        else:
            table = Table("t (s)", "caption")
            for row in part["captions"]:
                table.add_row(f"{row['t']:.1f}" + (" *" if row.get("peak") else ""), row["caption"])
            console.print(table)
            console.print(part["text"].splitlines()[0], highlight=False)
            if part["text_on_screen"]:
                lines = ", ".join(f'"{row["text"]}" at {row["t"]:.1f} s' for row in part["text_on_screen"])
                console.print(f"text on screen: {lines}", highlight=False)
        if part["reason"]:
            console.print(f"[yellow]note:[/] {part['reason']}", highlight=False)


def perceive_command(
    media: Annotated[Path, typer.Argument(help="Video, audio or image file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    frames: Annotated[int, typer.Option("--frames", min=1, max=64, help="Frames sampled uniformly.")] = 8,
    peaks: Annotated[int, typer.Option("--peaks", min=0, max=16, help="Extra expression-peak frames.")] = 2,
    whisper: Annotated[str, typer.Option("--whisper", help="Whisper model: tiny.en or base.")] = "tiny.en",
    asr: Annotated[
        str, typer.Option("--asr", help="Transcript backend: whisper or faster-whisper.")
    ] = "whisper",
    ocr: Annotated[bool, typer.Option("--ocr", help="Read on-screen text in the frames.")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the tool cache.")
    ] = False,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Tool cache folder.")] = None,
    clip_model: Annotated[
        str | None,
        typer.Option("--clip-model", help="OpenCLIP model name (e.g. ViT-B-32) for frame ranking."),
    ] = None,
    clip_pretrained: Annotated[
        str | None,
        typer.Option("--clip-pretrained", help="OpenCLIP tag in your local cache, or a checkpoint."),
    ] = None,
    tools: Annotated[str, typer.Option("--tools", help="Comma-separated: transcript,audio,frames.")] = (
        "transcript,audio,frames"
    ),
) -> None:
    """Run the perception tools (transcript, audio description, frames) on one media file."""
    from saboteur.agents.perception.deps import check_tools
    from saboteur.agents.perception.tools import ASR_BACKENDS, TOOLS, PerceptionConfig, perceive
    from saboteur.agents.perception.whisper_weights import WHISPER_MODELS, locate_source

    chosen = [t.strip() for t in tools.split(",") if t.strip()]
    if not chosen or any(t not in TOOLS for t in chosen):
        raise SaboteurError(f"--tools takes a comma-separated subset of {', '.join(TOOLS)}")
    if whisper not in WHISPER_MODELS:
        raise SaboteurError(f"--whisper must be one of {', '.join(WHISPER_MODELS)}, got {whisper!r}")
    if asr not in ASR_BACKENDS:
        raise SaboteurError(f"--asr must be one of {', '.join(ASR_BACKENDS)}, got {asr!r}")
    check_tools(chosen, asr=asr, ocr=ocr)
    if "transcript" in chosen:
        locate_source(whisper)  # a missing weights package: one line naming it
    if not media.exists():
        raise SaboteurError(f"{media}: no such file")
    config = PerceptionConfig(
        whisper_model=whisper,
        asr=asr,  # checked against ASR_BACKENDS above
        ocr=ocr,
        n_frames=frames,
        peak_frames=peaks,
        use_cache=not no_cache,
        cache_dir=str(cache_dir) if cache_dir else None,
        clip_model=clip_model,
        clip_pretrained=clip_pretrained,
    )
    if as_json:
        result = perceive(media, config, chosen)
    else:
        with console.status(f"perceiving {media.name} ..."):
            result = perceive(media, config, chosen)
    if as_json:
        print_json(result.to_json())
    elif result.info is not None:
        _show(result)
    if result.info is None:  # the file itself could not be used: say why, exit 2
        reasons = {e.reason for e in (result.transcript, result.audio, result.frames) if e.reason}
        err_console.print(f"[bold red]error:[/] {sorted(reasons)[0] if reasons else 'unusable media'}")
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add ``saboteur perceive``."""
    app.command("perceive")(friendly(perceive_command))
