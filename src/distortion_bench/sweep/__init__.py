"""Hydra multirun sweeps of model size against buffer size, tracked in MLflow."""
