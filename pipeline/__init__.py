"""Thin Hydra entry points, one per DVC stage: they wire config to library functions."""
