"""Modality agents: perception tools, the OpenAI-compatible backend client and the agent loop."""
