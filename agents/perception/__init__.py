"""Perception tools: transcript (Whisper), audio description (prosody + YAMNet), frames (expressions, CLIP)."""
