"""A thin run-logging API over :class:`mlflow.MlflowClient`.

Training and evaluation code logs through :class:`Tracker` (one experiment) and
:class:`TrackedRun` (one run): params, metrics with steps, dicts, files,
directories, figures, tags. Everything is an explicit client call on the run's
id, never MLflow's fluent ``mlflow.start_run()`` / active-run state, which is
global to the process and thread; see :mod:`voicemill.tracking.store` for why
no tracking URI is set globally either.

Runs carry the standard tags built by :func:`run_tags`: the dataset, the code
version (``mlflow.source.git.commit``, which the MLflow UI shows) and a hash of
the training config, so a run can be found again from what produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicemill.settings import PROJECT_ROOT, Settings, get_settings
from voicemill.tracking import store

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Experiment, FileInfo, Metric, Run

TAG_RUN_NAME = "mlflow.runName"
TAG_CODE_VERSION = "mlflow.source.git.commit"
TAG_DATASET = "voicemill.dataset"
TAG_CONFIG_HASH = "voicemill.config_hash"

FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"


def config_hash(config: Any) -> str:
    """A short, stable digest of a JSON-like config (key order does not matter)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@lru_cache(maxsize=4)
def code_version(root: Path = PROJECT_ROOT) -> str | None:
    """The git commit of ``root`` (``-dirty`` if it has local changes), else None."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def run_tags(
    *,
    dataset: str | None = None,
    code_version: str | None = None,
    config: Any = None,
    **extra: Any,
) -> dict[str, str]:
    """The standard tags of a VoiceMill run; ``None`` values are left out."""
    tags: dict[str, str] = {}
    if dataset is not None:
        tags[TAG_DATASET] = dataset
    if code_version is not None:
        tags[TAG_CODE_VERSION] = code_version
    if config is not None:
        tags[TAG_CONFIG_HASH] = config_hash(config)
    tags.update({k: str(v) for k, v in extra.items() if v is not None})
    return tags


def _now_ms() -> int:
    return int(time.time() * 1000)


class TrackedRun:
    """One MLflow run; every method logs straight to the store."""

    def __init__(self, client: MlflowClient, run: Run) -> None:
        self.client = client
        self.run_id: str = run.info.run_id
        self.experiment_id: str = run.info.experiment_id
        self.name: str = run.info.run_name
        self.artifact_uri: str = run.info.artifact_uri

    def __repr__(self) -> str:
        return f"TrackedRun(run_id={self.run_id!r}, name={self.name!r})"

    def get(self) -> Run:
        """The run as stored now (params, latest metrics, tags, status)."""
        return self.client.get_run(self.run_id)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        if tags:
            self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (values are stringified; MLflow rejects changing a logged value)."""
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow's batch limit for params
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.client.log_metric(self.run_id, key, float(value), timestamp=_now_ms(), step=step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at one step in one request."""
        from mlflow.entities import Metric

        now = _now_ms()
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), 1000):  # MLflow's batch limit for metrics
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def metric_history(self, key: str) -> list[Metric]:
        return self.client.get_metric_history(self.run_id, key)

    def log_dict(self, dictionary: Any, artifact_file: str) -> None:
        """Store a dict as ``.json`` or ``.yaml`` (by the file's extension)."""
        self.client.log_dict(self.run_id, dictionary, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_file(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy one local file into the run's artifacts (under ``artifact_path``)."""
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dir(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local directory's contents into the run's artifacts."""
        self.client.log_artifacts(self.run_id, str(path), artifact_path)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Save a matplotlib (or plotly) figure as an artifact, e.g. ``plots/loss.png``."""
        self.client.log_figure(self.run_id, figure, artifact_file)

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        return self.client.list_artifacts(self.run_id, path)

    def download_artifacts(self, path: str, dst: str | os.PathLike[str]) -> Path:
        return Path(self.client.download_artifacts(self.run_id, path, str(dst)))

    def end(self, status: str = FINISHED) -> None:
        """Mark the run FINISHED (or FAILED / KILLED); it can be resumed later."""
        self.client.set_terminated(self.run_id, status=status)


class Tracker:
    """Runs of one MLflow experiment, through one explicit client."""

    def __init__(self, client: MlflowClient, experiment: Experiment) -> None:
        self.client = client
        self.experiment = experiment

    @classmethod
    def open(
        cls,
        experiment: str,
        *,
        settings: Settings | None = None,
        tracking_uri: str | None = None,
        artifact_root: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Tracker:
        """Connect to the store (creating MLflow's schema if needed) and the experiment.

        ``tracking_uri``/``artifact_root`` default to the settings
        (:func:`store.tracking_uri`, :func:`store.artifact_root`). With an HTTP
        tracking server and no artifact root configured anywhere, new experiments
        take the server's default artifact location.
        """
        settings = settings or get_settings()
        uri = tracking_uri or store.tracking_uri(settings)
        if artifact_root:
            root: str | None = store.as_uri(artifact_root)
        elif store.is_database_uri(uri) or settings.mlflow_artifact_root:
            root = store.artifact_root(settings)
        else:
            root = None
        client = store.open_client(settings, uri=uri, root=root)
        exp = store.ensure_experiment(client, experiment, root=root, tags=dict(tags or {}))
        return cls(client, exp)

    @property
    def experiment_id(self) -> str:
        return self.experiment.experiment_id

    @property
    def experiment_name(self) -> str:
        return self.experiment.name

    def find_run(self, run_name: str) -> str | None:
        """Id of the newest non-deleted run called ``run_name`` in this experiment."""
        runs = self.search_runs(
            f"attributes.run_name = {_quote(run_name)}",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def start_run(
        self,
        run_name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        resume: bool = False,
    ) -> TrackedRun:
        """Create a run; with ``resume=True`` reopen the newest run of that name if any."""
        if resume and run_name:
            run_id = self.find_run(run_name)
            if run_id is not None:
                return self.resume_run(run_id, tags=tags)
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags={k: str(v) for k, v in (tags or {}).items()},
        )
        return TrackedRun(self.client, run)

    def resume_run(self, run_id: str, *, tags: Mapping[str, Any] | None = None) -> TrackedRun:
        """Reopen run ``run_id`` (status RUNNING again); later metrics append to it."""
        run = self.client.get_run(run_id)
        if run.info.experiment_id != self.experiment_id:
            raise ValueError(
                f"run {run_id} belongs to experiment {run.info.experiment_id}, "
                f"not {self.experiment_name!r} ({self.experiment_id})"
            )
        if run.info.status != "RUNNING":
            self.client.update_run(run_id, status="RUNNING")
        tracked = TrackedRun(self.client, run)
        tracked.set_tags(tags or {})
        return tracked

    @contextmanager
    def run(
        self,
        run_name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        resume: bool = False,
    ) -> Iterator[TrackedRun]:
        """Start (or, with ``run_id``/``resume``, reopen) a run and end it on exit.

        The run ends FINISHED, FAILED if the block raises, KILLED on Ctrl-C.
        """
        if run_id is not None:
            tracked = self.resume_run(run_id, tags=tags)
        else:
            tracked = self.start_run(run_name, tags=tags, resume=resume)
        try:
            yield tracked
        except KeyboardInterrupt:
            tracked.end(KILLED)
            raise
        except BaseException:
            tracked.end(FAILED)
            raise
        tracked.end(FINISHED)

    def get_run(self, run_id: str) -> Run:
        return self.client.get_run(run_id)

    def search_runs(
        self,
        filter_string: str = "",
        *,
        order_by: list[str] | None = None,
        max_results: int = 1000,
    ) -> list[Run]:
        """Runs of this experiment matching a filter, e.g. ``tags.`voicemill.dataset` = 'x'``."""
        return list(
            self.client.search_runs(
                [self.experiment_id],
                filter_string=filter_string,
                order_by=order_by,
                max_results=max_results,
            )
        )


def _quote(value: str) -> str:
    for quote in ("'", '"'):
        if quote not in value:
            return f"{quote}{value}{quote}"
    raise ValueError(f"cannot search for a run name with both quote characters: {value!r}")
