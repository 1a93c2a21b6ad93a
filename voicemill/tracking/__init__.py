"""Experiment tracking on MLflow: the store, experiments and a thin run-logging API.

Pure Python, no Dagster; ``voicemill.orchestration.resources.MlflowResource``
hands these objects to assets. Importing this package does not import mlflow.
"""

from voicemill.tracking.store import (
    artifact_root,
    ensure_experiment,
    ensure_schema,
    open_client,
    tracking_uri,
)
from voicemill.tracking.tracker import (
    TAG_CODE_VERSION,
    TAG_CONFIG_HASH,
    TAG_DATASET,
    TrackedRun,
    Tracker,
    code_version,
    config_hash,
    run_tags,
)

__all__ = [
    "TAG_CODE_VERSION",
    "TAG_CONFIG_HASH",
    "TAG_DATASET",
    "TrackedRun",
    "Tracker",
    "artifact_root",
    "code_version",
    "config_hash",
    "ensure_experiment",
    "ensure_schema",
    "open_client",
    "run_tags",
    "tracking_uri",
]
