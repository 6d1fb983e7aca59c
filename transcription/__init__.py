"""Vietnamese speech to text: Whisper engines, offline model discovery, the per-track pipeline."""
