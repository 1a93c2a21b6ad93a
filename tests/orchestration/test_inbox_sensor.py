"""The inbox sensor: new folders add partitions; run keys follow folder contents."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import numpy as np
import soundfile as sf

from voicemill.orchestration.resources import DatasetStorage
from voicemill.orchestration.sensors import SETTLE_SECONDS, recordings_inbox_sensor


def _write_settled(path: Path, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
    past = time.time() - 10 * SETTLE_SECONDS
    os.utime(path, (past, past))


def _tick(inbox: Path, instance: dg.DagsterInstance, cursor: str | None = None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"storage": DatasetStorage(inbox=str(inbox))}
    )
    return recordings_inbox_sensor(context)


def test_new_folder_adds_partition_and_requests_one_keyed_run(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    _write_settled(inbox / "alice" / "take1.wav")
    (inbox / "Not A Dataset").mkdir()
    instance = dg.DagsterInstance.ephemeral()

    first = _tick(inbox, instance)
    assert isinstance(first, dg.SensorResult)
    (request,) = first.run_requests
    assert request.partition_key == "alice"
    assert request.run_key.startswith("alice:")
    assert request.run_config["ops"]["raw_recordings"]["config"]["source_uri"] == str(
        inbox / "alice"
    )
    (add,) = first.dynamic_partitions_requests
    assert add.partitions_def_name == "datasets" and list(add.partition_keys) == ["alice"]

    # Same contents: nothing new on the next tick, and the same run key even without
    # the cursor, so the daemon's run-key dedup would drop a repeat.
    assert isinstance(_tick(inbox, instance, first.cursor), dg.SkipReason)
    again = _tick(inbox, instance)
    assert again.run_requests[0].run_key == request.run_key

    _write_settled(inbox / "alice" / "take2.wav")
    changed = _tick(inbox, instance, first.cursor)
    assert changed.run_requests[0].run_key != request.run_key


def test_files_still_being_written_wait_for_a_later_tick(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    fresh = inbox / "bob" / "uploading.wav"
    fresh.parent.mkdir(parents=True)
    sf.write(fresh, np.zeros(1600, dtype=np.float32), 16000)
    result = _tick(inbox, dg.DagsterInstance.ephemeral())
    assert isinstance(result, dg.SkipReason)


def test_a_linked_dataset_folder_is_not_followed(tmp_path: Path) -> None:
    """A link in the inbox would make the run read wherever it points."""
    inbox = tmp_path / "inbox"
    _write_settled(tmp_path / "elsewhere" / "private.wav")
    _write_settled(inbox / "alice" / "take1.wav")
    inbox.joinpath("mallory").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = _tick(inbox, dg.DagsterInstance.ephemeral())
    assert [r.partition_key for r in result.run_requests] == ["alice"]
