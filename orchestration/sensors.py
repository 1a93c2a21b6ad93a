"""Inbox sensors: recordings into ``inbox/<dataset_id>/`` get prepared; campaigns into
``campaigns/inbox/<any>/`` get submitted and delivered.

Each dataset folder's contents are fingerprinted (names, sizes, modification
times of files that have settled); a new fingerprint adds the dataset's
partition if needed and requests one run keyed by it, so a folder is never
prepared twice for the same contents, however often the sensor ticks. A campaign's run
key is its id plus the hashes of its spec and recipients, so each submitted campaign
is launched exactly once whether it came through the inbox or ``voicemill campaign
submit``.
"""

import hashlib
import json
import time
from pathlib import Path

import dagster as dg

from voicemill.orchestration.executors import campaign_run_tags
from voicemill.orchestration.jobs import deliver_campaign_job, prepare_dataset_job
from voicemill.orchestration.partitions import campaigns_partitions, datasets_partitions
from voicemill.orchestration.resources import CampaignResource, DatasetStorage, PostgresResource

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
        if folder.is_symlink():  # it would lead the run's reads out of the inbox
            context.log.warning(f"ignoring inbox folder {folder.name!r}: a symbolic link")
            continue
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


def _window_open(window: dict | None) -> bool:
    """A campaign without a schedule window may run now; one with a window once it opens."""
    from voicemill.campaign.spec import ScheduleWindow

    return window is None or ScheduleWindow.model_validate(window).state() == "open"


def campaign_run_request(record) -> dg.RunRequest:
    """The one run a submitted campaign gets: keyed by its id and both files' hashes."""
    return dg.RunRequest(
        run_key=f"{record.campaign_id}:{record.spec_sha256[:12]}:{record.recipients_sha256[:12]}",
        partition_key=record.campaign_id,
        tags={
            "voicemill/trigger": "campaign_sensor",
            **campaign_run_tags(record.spec.get("priority", "normal")),
        },
    )


@dg.sensor(
    job=deliver_campaign_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Submits campaigns dropped into the campaign inbox (a folder with "
    "spec.yaml|json and recipients.csv|parquet) and launches every submitted campaign once.",
)
def campaign_inbox_sensor(
    context: dg.SensorEvaluationContext, campaigns: CampaignResource, postgres: PostgresResource
) -> dg.SensorResult | dg.SkipReason:
    from voicemill.campaign.audit import list_campaigns
    from voicemill.campaign.errors import CampaignError
    from voicemill.campaign.submission import find_campaign_files, submit_campaign

    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    inbox = campaigns.inbox_path
    folders = sorted(p for p in inbox.iterdir() if p.is_dir()) if inbox.is_dir() else []
    for folder in folders:
        # Each drop on its own: whatever one folder holds, the others are still submitted
        # and this tick still launches every submitted campaign.
        try:
            fingerprint = folder_fingerprint(folder)
            files = find_campaign_files(folder)
        except CampaignError as exc:
            fingerprint, files = f"refused:{exc.reason}", None
            if seen.get(folder.name) != fingerprint:
                context.log.warning(f"inbox folder {folder.name!r} refused: {exc.detail}")
            seen[folder.name] = fingerprint
            continue
        except OSError as exc:
            context.log.warning(f"inbox folder {folder.name!r} cannot be read: {exc}")
            continue
        if fingerprint is None or files is None or seen.get(folder.name) == fingerprint:
            continue
        seen[folder.name] = fingerprint  # a refused drop is retried only once it changes
        try:
            with postgres.connect() as conn:
                record, _ = submit_campaign(conn, *files, campaigns.root_path)
            context.log.info(f"submitted campaign {record.campaign_id} from {folder}")
        except CampaignError as exc:
            context.log.warning(f"inbox folder {folder.name!r} refused: {exc.reason}: {exc.detail}")
        except Exception as exc:  # an outage, not the drop: try it again next tick
            seen.pop(folder.name, None)
            context.log.error(
                f"inbox folder {folder.name!r} could not be submitted: "
                f"{type(exc).__name__}: {str(exc)[:500]}"
            )
    with postgres.connect() as conn:
        submitted = [
            c
            for c in list_campaigns(conn)
            if c.status == "submitted" and _window_open(c.spec.get("schedule_window"))
        ]
    known = set(context.instance.get_dynamic_partitions(campaigns_partitions.name))
    new = sorted({c.campaign_id for c in submitted} - known)
    cursor = json.dumps(seen, sort_keys=True)
    if not submitted:
        return dg.SensorResult(skip_reason="no submitted campaign waiting", cursor=cursor)
    return dg.SensorResult(
        run_requests=[campaign_run_request(c) for c in submitted],
        dynamic_partitions_requests=([campaigns_partitions.build_add_request(new)] if new else []),
        cursor=cursor,
    )
