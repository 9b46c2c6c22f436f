"""Prompting strategies as data files (templates + metadata), found next to this module."""
