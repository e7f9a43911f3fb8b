"""Measurement: quality metrics (and, later, timing, plots and the spectrum analyzer)."""
