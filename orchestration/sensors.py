"""The inbox sensor: drop recordings into ``inbox/<dataset_id>/`` and they get prepared.

Each dataset folder's contents are fingerprinted (names, sizes, modification
times of files that have settled); a new fingerprint adds the dataset's
partition if needed and requests one run keyed by it, so a folder is never
prepared twice for the same contents, however often the sensor ticks.
"""

import hashlib
import json
import time
from pathlib import Path

import dagster as dg

from voicemill.orchestration.jobs import prepare_dataset_job
from voicemill.orchestration.partitions import datasets_partitions
from voicemill.orchestration.resources import DatasetStorage

SETTLE_SECONDS = 5.0
"""Files modified more recently than this may still be uploading; wait for them."""


def folder_fingerprint(folder: Path, now: float | None = None) -> str | None:
    """Fingerprint of a folder's settled files; None while empty or still changing."""
    now = time.time() if now is None else now
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        if now - stat.st_mtime < SETTLE_SECONDS:
            return None
        entries.append((str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns))
    if not entries:
        return None
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


@dg.sensor(
    job=prepare_dataset_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Prepares datasets whose inbox folder received new recordings.",
)
def recordings_inbox_sensor(
    context: dg.SensorEvaluationContext, storage: DatasetStorage
) -> dg.SensorResult | dg.SkipReason:
    from voicemill.db.catalog import DATASET_ID_PATTERN

    inbox = storage.inbox_path
    if not inbox.is_dir():
        return dg.SkipReason(f"inbox {inbox} does not exist yet")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(datasets_partitions.name))
    new_partitions: list[str] = []
    run_requests: list[dg.RunRequest] = []
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
        dataset_id = folder.name
        if not DATASET_ID_PATTERN.match(dataset_id):
            context.log.warning(
                f"ignoring inbox folder {folder.name!r}: not a valid dataset id "
                "(lowercase letters, digits, '_' or '-')"
            )
            continue
        fingerprint = folder_fingerprint(folder)
        if fingerprint is None or seen.get(dataset_id) == fingerprint:
            continue
        if dataset_id not in known:
            new_partitions.append(dataset_id)
        run_requests.append(
            dg.RunRequest(
                run_key=f"{dataset_id}:{fingerprint}",
                partition_key=dataset_id,
                run_config={"ops": {"raw_recordings": {"config": {"source_uri": str(folder)}}}},
                tags={"voicemill/trigger": "inbox"},
            )
        )
        seen[dataset_id] = fingerprint
    if not run_requests:
        return dg.SkipReason("no new or changed dataset folders in the inbox")
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [datasets_partitions.build_add_request(new_partitions)] if new_partitions else []
        ),
        cursor=json.dumps(seen, sort_keys=True),
    )
