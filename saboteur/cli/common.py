"""What every command shares: the consoles, JSON output, and turning failures into one clear line."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from saboteur.errors import SaboteurError

console = Console(width=None if sys.stdout.isatty() else 120)
"""Human output (tables, progress) on stdout (120 columns when piped, so tables stay readable)."""
err_console = Console(stderr=True)
"""Errors and warnings on stderr."""

P = ParamSpec("P")
R = TypeVar("R")


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def print_json(data: dict[str, Any]) -> None:
    """One JSON object on stdout (NaN/inf become null so that any JSON parser reads it)."""
    sys.stdout.write(json.dumps(_json_safe(data), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator for commands: expected failures become one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SaboteurError as exc:
            raise fail(str(exc)) from None
        except FileNotFoundError as exc:
            raise fail(f"{exc.filename}: no such file or directory") from None
        except PermissionError as exc:
            raise fail(f"{exc.filename}: permission denied") from None
        except OSError as exc:
            raise fail(f"{getattr(exc, 'filename', '') or ''} {exc.strerror or exc}".strip()) from None
        except KeyboardInterrupt:
            raise fail("interrupted", code=130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if os.environ.get("SABOTEUR_DEBUG"):
                raise
            raise fail(
                f"unexpected {exc.__class__.__name__}: {exc} (set SABOTEUR_DEBUG=1 for a traceback)", code=1
            ) from None

    return wrapper


def short(text: str, limit: int = 24) -> str:
    """A label or name for a table cell: one line, at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def split_list(value: str | None) -> list[str] | None:
    """``a,b , c`` -> ["a", "b", "c"]; None or empty -> None."""
    if not value:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None
