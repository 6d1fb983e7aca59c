"""ASR benchmark: faster-whisper (default engine) against openai-whisper on Vietnamese eval clips."""
