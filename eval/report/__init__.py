"""Self-contained HTML/Markdown reports of a run, and paired comparison of two runs."""
