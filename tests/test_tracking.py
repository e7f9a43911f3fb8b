"""MLflow tracking URI precedence and config flattening."""

from __future__ import annotations

from distortion_bench.tracking import flatten, tracking_uri


def test_default_is_sqlite_in_the_given_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_config_then_environment_override(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://mlflow@db/mlflow")
    assert tracking_uri("http://127.0.0.1:5000", tmp_path) == "postgresql://mlflow@db/mlflow"


def test_flatten_nests_with_dots():
    assert flatten({"model": {"size": 8, "dilations": [1, 2]}, "seed": 3}) == {
        "model.size": "8",
        "model.dilations": "[1, 2]",
        "seed": "3",
    }
