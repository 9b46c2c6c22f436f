"""Run every benchmark in bench/ and end with one JSON line of measured figures (``make bench``).

Each ``bench/bench_*.py`` module has ``run() -> dict[str, float | str]``; figures are measured side by side in
this one process so that ratios compare like with like on a noisy shared machine.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(selected: list[str]) -> int:
    figures: dict[str, float | str] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} {_cores()} cores".strip(),
        "python": platform.python_version(),
    }
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if selected and name not in selected:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        started = time.perf_counter()
        print(f"# {name} ...", file=sys.stderr, flush=True)
        result = module.run()
        for key, value in result.items():
            print(f"{key:>32}: {value}", file=sys.stderr)
        print(f"# {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        figures.update(result)
    print(json.dumps(figures))
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
