"""The real-time side: one processor interface for every backend (and, later, the audio engine)."""
