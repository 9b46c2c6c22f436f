"""LangGraph orchestration: per-clip state graph and the batch runner (local and Ray executors)."""
