"""Self-contained HTML/Markdown reports of a run, and paired comparison of two runs.

``build_report(run)`` writes ``RUN/report/index.html`` (inline CSS, SVG and PNG, a sortable and filterable
per-clip table, nothing fetched) and ``report.md``; ``compare_runs(a, b)`` answers which of two runs over
the same clips is better, and how sure (exact McNemar, paired bootstrap).
"""

from saboteur.eval.report.build import build_report, gather
from saboteur.eval.report.compare import Comparison, Delta, McNemar, compare_runs, compare_tables
from saboteur.eval.report.compare_view import comparison_html, comparison_markdown, write_comparison

__all__ = [
    "Comparison",
    "Delta",
    "McNemar",
    "build_report",
    "compare_runs",
    "compare_tables",
    "comparison_html",
    "comparison_markdown",
    "gather",
    "write_comparison",
]
