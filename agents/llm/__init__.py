"""The LLM side of an agent: OpenAI-compatible backend, embedded llama.cpp server, output validation."""
