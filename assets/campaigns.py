"""Campaign assets: one dynamic partition per campaign, recipients → audio → report.

``campaign_recipients`` pins the voice (profile version, preset, champion model version)
when the partition first starts, validates and renders every recipient row, records
each as a pending (or rejected, with its reason) delivery, and splits the pending ones
into shards. ``campaign_audio`` fans the shards out as separate steps, so the
multiprocess executor runs them in parallel on one machine and the Celery or
Kubernetes executors spread them over workers; each shard synthesizes, post-processes
and publishes its recipients (``voicemill.campaign.delivery``). Its checks guard the
failure rate, durations against text lengths and loudness. ``campaign_report`` writes
the deliveries table and the HTML report.

Everything a step does is keyed by the campaign and recipient in PostgreSQL, so a
re-materialization of a finished partition finds nothing pending and changes nothing,
and a killed run resumes where it stopped.
"""

import dagster as dg
from pydantic import Field

from voicemill.assets.metadata import md_table
from voicemill.orchestration.executors import shard_op_tags
from voicemill.orchestration.partitions import campaigns_partitions
from voicemill.orchestration.resources import CampaignResource, MlflowResource, PostgresResource

GROUP = "campaigns"
SHARD_RETRY = dg.RetryPolicy(max_retries=2, delay=5)  # a crashed shard resumes its rows


def _fail(postgres: PostgresResource, campaign_id: str, reason: str, detail: str):
    """Mark the campaign failed with its reason and stop the run (no retry helps)."""
    from voicemill.campaign.audit import set_campaign_status

    with postgres.connect() as conn:
        set_campaign_status(conn, campaign_id, "failed", reason, detail)
    return dg.Failure(f"{reason}: {detail}", allow_retries=False)


def _campaign(postgres: PostgresResource, campaign_id: str):
    from voicemill.campaign.audit import get_campaign
    from voicemill.campaign.errors import CampaignError
    from voicemill.campaign.spec import CampaignSpec

    try:
        with postgres.connect() as conn:
            record = get_campaign(conn, campaign_id)
    except CampaignError as exc:
        raise dg.Failure(f"{exc.reason}: {exc.detail}", allow_retries=False) from exc
    return record, CampaignSpec.model_validate(record.spec)


@dg.asset(
    partitions_def=campaigns_partitions,
    group_name=GROUP,
    kinds={"postgres"},
    check_specs=[
        dg.AssetCheckSpec(
            "recipients_meet_expectations",
            asset="campaign_recipients",
            description="Great Expectations suite over the rendered recipients.",
        )
    ],
    description="Recipients validated and rendered with the campaign's pinned voice; "
    "each is a pending delivery, bad rows are rejected with their reason.",
)
def campaign_recipients(
    context: dg.AssetExecutionContext,
    campaigns: CampaignResource,
    postgres: PostgresResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    import uuid

    from voicemill.campaign.audit import assign_shards, pin_voice, register_deliveries
    from voicemill.campaign.cache import request_key
    from voicemill.campaign.recipients import (
        RecipientLimits,
        load_recipients,
        prepare_recipients,
        rendered_frame,
        required_variables,
    )
    from voicemill.campaign.records import DeliveryRecord
    from voicemill.campaign.render_process import RenderLimits
    from voicemill.campaign.storage import open_store
    from voicemill.campaign.submission import recipients_path
    from voicemill.campaign.voice import choose_voice
    from voicemill.errors import RejectedInput
    from voicemill.quality.recipients_suite import validate_recipients

    campaign_id = context.partition_key
    record, spec = _campaign(postgres, campaign_id)
    window = spec.schedule_window.refusal() if spec.schedule_window else None
    if window is not None:  # not before the window: the sensor launches it when it opens
        raise dg.Failure(f"{window.reason}: {window.detail}", allow_retries=False)
    limits = RecipientLimits.from_settings()
    try:
        open_store(campaigns.storage_target(spec.storage_url)).check()
        frame = load_recipients(recipients_path(record), limits)
        prepared = prepare_recipients(
            spec, frame, RenderLimits.from_settings(), limits.max_cell_chars
        )
        if record.model_version is None:  # the first start pins the voice
            with postgres.connect() as conn:
                chosen = choose_voice(conn, mlflow.client(), spec.voice_profile, spec.preset)
                preset = chosen.preset
                if spec.seed is not None:  # the campaign's own seed wins
                    preset = preset.model_copy(update={"seed": spec.seed})
                record = pin_voice(
                    conn,
                    campaign_id,
                    profile_version=chosen.profile.version,
                    model_name=chosen.model_name,
                    model_version=chosen.model_version,
                    preset=preset.model_dump(mode="json"),
                )
    except RejectedInput as exc:
        raise _fail(postgres, campaign_id, exc.reason, exc.detail) from exc
    except Exception as exc:  # a bug or an outage: the campaign must not stay "running"
        raise _fail(
            postgres, campaign_id, "internal_error", f"{type(exc).__name__}: {str(exc)[:500]}"
        ) from exc
    if not prepared.accepted:
        raise _fail(
            postgres,
            campaign_id,
            "no_valid_recipients",
            f"all {prepared.total} rows were rejected: {prepared.rejection_counts()}",
        )
    pinned = {
        "model_name": record.model_name,
        "model_version": record.model_version,
        "profile_version": record.profile_version,
        "preset": record.preset,
        "seed": record.preset["seed"],
    }
    rows = []
    for row in prepared.accepted:
        key = request_key(
            profile_id=record.voice_profile,
            profile_version=record.profile_version,
            use_case=record.use_case,
            preset=record.preset,
            model_name=record.model_name,
            model_version=record.model_version,
            normalized_text=row.spoken_text,
            seed=record.preset["seed"],
            language=spec.language,
        )
        rows.append(
            DeliveryRecord(
                trace_id=uuid.uuid4().hex,
                campaign_id=campaign_id,
                recipient_id=row.recipient_id,
                row_number=row.row_number,
                template_id=row.template_id,
                text=row.text,
                text_sha256=row.text_sha256,
                request_key=key,
                status="pending",
                **pinned,
            )
        )
    for row in prepared.rejected:
        rows.append(
            DeliveryRecord(
                trace_id=uuid.uuid4().hex,
                campaign_id=campaign_id,
                recipient_id=row.printable_recipient_id,
                row_number=row.row_number,
                template_id=row.template_id,
                status="rejected",
                error_reason=row.reason,
                error_detail=row.detail,
            )
        )
    with postgres.connect() as conn:
        inserted = register_deliveries(conn, rows)
        shards = assign_shards(conn, campaign_id, spec.shard_size)
    suite = validate_recipients(
        rendered_frame(prepared.accepted),
        spec.text_limits,
        required_columns=sorted(set().union(*required_variables(spec).values())),
        template_ids=spec.template_ids,
    )
    failed = [f"{o.expectation}({o.column or 'table'})" for o in suite.failed]
    context.log.info(
        f"campaign {campaign_id}: {len(prepared.accepted)} recipients accepted, "
        f"{len(prepared.rejected)} rejected {prepared.rejection_counts()}; {inserted} new "
        f"deliveries in {shards} shards; voice {record.model_name} v{record.model_version}"
    )
    return dg.MaterializeResult(
        metadata={
            "accepted": dg.MetadataValue.int(len(prepared.accepted)),
            "rejected": dg.MetadataValue.int(len(prepared.rejected)),
            "rejections_by_reason": dg.MetadataValue.json(prepared.rejection_counts()),
            "shards": dg.MetadataValue.int(shards),
            "model": f"{record.model_name} v{record.model_version}",
            "profile_version": dg.MetadataValue.int(record.profile_version or 0),
            "preset": dg.MetadataValue.json(record.preset),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="recipients_meet_expectations",
                passed=suite.success,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"failed_expectations": dg.MetadataValue.json(failed)},
            )
        ],
    )


# -- campaign_audio: shards fanned out on the executor ------------------------------------


@dg.op(
    ins={"recipients": dg.In(dg.Nothing)},
    out=dg.DynamicOut(int),
    description="One output per shard that still has pending deliveries.",
)
def plan_campaign_shards(context: dg.OpExecutionContext, postgres: PostgresResource):
    from voicemill.campaign.audit import pending_shards

    with postgres.connect() as conn:
        shards = pending_shards(conn, context.partition_key)
    context.log.info(f"{len(shards)} shards with pending deliveries: {shards}")
    for shard in shards:
        yield dg.DynamicOutput(shard, mapping_key=f"shard_{shard}")


@dg.op(
    retry_policy=SHARD_RETRY,
    tags=shard_op_tags(),  # its own Celery queue under VOICEMILL_EXECUTOR=celery
    description="Synthesize, post-process and publish one shard.",
)
def deliver_campaign_shard(
    context: dg.OpExecutionContext,
    shard: int,
    campaigns: CampaignResource,
    postgres: PostgresResource,
    mlflow: MlflowResource,
) -> dict:
    from voicemill.campaign.audit import shard_lock

    campaign_id = context.partition_key
    record, spec = _campaign(postgres, campaign_id)
    with shard_lock(postgres.connect, campaign_id, shard):  # one run per shard at a time
        return _deliver_locked_shard(context, shard, record, spec, campaigns, postgres, mlflow)


def _deliver_locked_shard(context, shard, record, spec, campaigns, postgres, mlflow) -> dict:
    """The shard's pending rows, read once the shard is held, delivered."""
    from voicemill.campaign.audit import deliveries
    from voicemill.campaign.cache import SynthesisCache
    from voicemill.campaign.delivery import deliver_shard
    from voicemill.campaign.postprocess import PostprocessSettings
    from voicemill.campaign.storage import open_store
    from voicemill.campaign.voice import load_voice
    from voicemill.errors import RejectedInput
    from voicemill.release.voice_files import open_release
    from voicemill.synthesis.types import InferencePreset

    campaign_id = record.campaign_id
    with postgres.connect() as conn:
        rows = deliveries(conn, campaign_id, shard=shard)
    pending = [r for r in rows if r.status == "pending"]
    if not pending:
        return {"shard": shard, "published": 0, "failed": 0, "skipped": len(rows)}
    window = spec.schedule_window.refusal() if spec.schedule_window else None
    if window is not None:  # the window closed while the campaign ran: leave them pending
        raise dg.Failure(f"{window.reason}: {window.detail}", allow_retries=False)
    try:
        store = open_store(campaigns.storage_target(spec.storage_url))
        store.check()
    except RejectedInput as exc:
        raise dg.Failure(f"{exc.reason}: {exc.detail}") from exc  # retried: may be transient
    try:
        voices_root = campaigns.cache_path / "voices"
        release = open_release(
            mlflow.client(), record.model_name, record.model_version, voices_root
        )
    except RejectedInput as exc:  # unverified or altered voice files: never synthesize with them
        raise dg.Failure(f"{exc.reason}: {exc.detail}", allow_retries=False) from exc
    engine, voice = load_voice(release)
    preset = InferencePreset.model_validate(record.preset)
    report = deliver_shard(
        rows,
        campaign=record,
        settings=PostprocessSettings(
            loudness_lufs=spec.loudness_lufs,
            true_peak_dbtp=spec.true_peak_dbtp,
            output_format=spec.output_format,
        ),
        synthesize=lambda texts: engine.synthesize_many(texts, voice, preset, spec.language),
        cache=SynthesisCache(campaigns.cache_path / "synthesis"),
        store=store,
        connect=postgres.connect,
        max_retries=spec.max_retries,
        batch_size=campaigns.synthesis_batch,
        logger=context.log,
    )
    context.log.info(
        f"shard {shard}: {report.published} published, {report.failed} failed, "
        f"{report.skipped} already done, {report.synthesized} synthesized, "
        f"{report.cache_hits} from cache; seconds {report.seconds}"
    )
    return {"shard": shard, **report.summary()}


@dg.op(description="Totals of the campaign's deliveries once every shard has run.")
def collect_campaign_shards(
    context: dg.OpExecutionContext, reports: list[dict], postgres: PostgresResource
) -> dg.Output:
    from voicemill.campaign.audit import campaign_summary

    with postgres.connect() as conn:
        summary = campaign_summary(conn, context.partition_key)
    published = sum(r.get("published", 0) for r in reports)
    synthesized = sum(r.get("synthesized", 0) for r in reports)
    seconds: dict[str, float] = {}
    for r in reports:
        for kind, value in r.get("seconds", {}).items():
            seconds[kind] = seconds.get(kind, 0.0) + value
    counts = summary.model_dump(mode="json")
    return dg.Output(
        counts,
        metadata={
            "shards_run": dg.MetadataValue.int(len(reports)),
            "published_this_run": dg.MetadataValue.int(published),
            "synthesized_this_run": dg.MetadataValue.int(synthesized),
            "seconds_by_kind": dg.MetadataValue.json({k: round(v, 2) for k, v in seconds.items()}),
            "deliveries": dg.MetadataValue.json(counts),
        },
    )


@dg.graph_asset(
    partitions_def=campaigns_partitions,
    group_name=GROUP,
    ins={"campaign_recipients": dg.AssetIn(dagster_type=dg.Nothing)},
    kinds={"pytorch", "postgres"},
    description="Every accepted recipient's audio synthesized (once per distinct request), "
    "post-processed and published; shards run in parallel on the executor.",
)
def campaign_audio(campaign_recipients):
    shards = plan_campaign_shards(recipients=campaign_recipients)
    return collect_campaign_shards(shards.map(deliver_campaign_shard).collect())


# -- checks next to the asset they guard -------------------------------------------------


class FailureRateConfig(dg.Config):
    max_failure_rate: float | None = Field(
        default=None, description="Override; empty = the campaign spec's max_failure_rate."
    )


def _rows(postgres: PostgresResource, campaign_id: str):
    from voicemill.campaign.audit import deliveries

    with postgres.connect() as conn:
        return deliveries(conn, campaign_id)


@dg.asset_check(
    asset=campaign_audio,
    blocking=True,
    description="Recipients left without audio (failed deliveries and rejected rows) stay "
    "within the campaign's max_failure_rate; past it the campaign fails and is not reported "
    "complete.",
)
def campaign_failure_rate(
    context: dg.AssetCheckExecutionContext, config: FailureRateConfig, postgres: PostgresResource
) -> dg.AssetCheckResult:
    from voicemill.campaign.audit import set_campaign_status
    from voicemill.campaign.report import campaign_totals

    campaign_id = context.partition_key
    _, spec = _campaign(postgres, campaign_id)
    totals = campaign_totals(_rows(postgres, campaign_id))
    limit = spec.max_failure_rate if config.max_failure_rate is None else config.max_failure_rate
    exceeded = totals.undelivered_rate > limit
    if exceeded:
        with postgres.connect() as conn:
            set_campaign_status(
                conn,
                campaign_id,
                "failed",
                "failure_rate_exceeded",
                f"{totals.failed + totals.rejected} of {totals.total} recipients got no audio "
                f"({totals.undelivered_rate:.1%} > {limit:.1%}): {totals.failures_by_reason}",
            )
    return dg.AssetCheckResult(
        passed=not exceeded and totals.pending == 0,
        metadata={
            "undelivered_rate": dg.MetadataValue.float(round(totals.undelivered_rate, 4)),
            "failure_rate": dg.MetadataValue.float(round(totals.failure_rate, 4)),
            "rejected": dg.MetadataValue.int(totals.rejected),
            "limit": dg.MetadataValue.float(limit),
            "pending": dg.MetadataValue.int(totals.pending),
            "failures_by_reason": dg.MetadataValue.json(totals.failures_by_reason),
        },
    )


# Speech runs at roughly 8-25 characters per second in both scripts we serve; anything
# far outside says the synthesis stopped early or babbled.
_MIN_CHARS_PER_S, _MAX_CHARS_PER_S = 2.0, 40.0


@dg.asset_check(
    asset=campaign_audio,
    description="Each file's duration is plausible for its text length (2-40 chars/s).",
)
def campaign_durations_fit_texts(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    published = [r for r in _rows(postgres, context.partition_key) if r.status == "published"]
    odd = [
        {
            "row": r.row_number,
            "trace_id": r.trace_id,
            "chars": len(r.text or ""),
            "duration_s": r.duration_s,
        }
        for r in published
        # empty audio for a text is the least plausible duration of all
        if not r.duration_s
        or not _MIN_CHARS_PER_S <= len(r.text or "") / r.duration_s <= _MAX_CHARS_PER_S
    ]
    return dg.AssetCheckResult(
        passed=not odd,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "checked": dg.MetadataValue.int(len(published)),
            "implausible": dg.MetadataValue.int(len(odd)),
            "examples": dg.MetadataValue.json(odd[:10]),
        },
    )


_LOUDNESS_TOLERANCE_LU = 1.0


@dg.asset_check(
    asset=campaign_audio,
    description="Each file is within 1 LU of the loudness target and under the true-peak ceiling.",
)
def campaign_loudness_compliance(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    _, spec = _campaign(postgres, context.partition_key)
    published = [r for r in _rows(postgres, context.partition_key) if r.status == "published"]
    off = [
        {
            "row": r.row_number,
            "trace_id": r.trace_id,
            "lufs": r.loudness_lufs,
            "dbtp": r.true_peak_dbtp,
        }
        for r in published
        if r.loudness_lufs is None
        or abs(r.loudness_lufs - spec.loudness_lufs) > _LOUDNESS_TOLERANCE_LU
        or (r.true_peak_dbtp or 0.0) > spec.true_peak_dbtp + 0.05
    ]
    return dg.AssetCheckResult(
        passed=not off,
        metadata={
            "target_lufs": dg.MetadataValue.float(spec.loudness_lufs),
            "ceiling_dbtp": dg.MetadataValue.float(spec.true_peak_dbtp),
            "checked": dg.MetadataValue.int(len(published)),
            "out_of_spec": dg.MetadataValue.int(len(off)),
            "examples": dg.MetadataValue.json(off[:10]),
        },
    )


# -- the report ------------------------------------------------------------------------


@dg.asset(
    partitions_def=campaigns_partitions,
    group_name=GROUP,
    deps=[campaign_audio],
    kinds={"html", "parquet"},
    description="Deliveries table (Parquet, CSV) and the HTML report of the campaign.",
)
def campaign_report(
    context: dg.AssetExecutionContext,
    campaigns: CampaignResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    from voicemill.campaign.audit import set_campaign_status
    from voicemill.campaign.report import write_report

    campaign_id = context.partition_key
    rows = _rows(postgres, campaign_id)
    pending = sum(r.status == "pending" for r in rows)
    with postgres.connect() as conn:
        record = set_campaign_status(conn, campaign_id, "running" if pending else "completed")
    files = write_report(campaigns.campaign_dir(campaign_id) / "report", record, rows)
    totals = files.totals
    # No recipient ids or URLs (their keys carry a slug of the id): the event log is read
    # by everyone with UI access, recipients' data belongs in the report files only.
    sample = md_table(
        ["row", "status", "reason", "trace id"],
        [[r.row_number, r.status, r.error_reason or "-", r.trace_id] for r in rows[:10]],
    )
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(files.html)),
            "deliveries_parquet": dg.MetadataValue.path(str(files.parquet)),
            "deliveries_csv": dg.MetadataValue.path(str(files.csv)),
            "published": dg.MetadataValue.int(totals.published),
            "failed": dg.MetadataValue.int(totals.failed),
            "rejected": dg.MetadataValue.int(totals.rejected),
            "failure_rate": dg.MetadataValue.float(round(totals.failure_rate, 4)),
            "total_audio_s": dg.MetadataValue.float(round(totals.duration.total_s, 1)),
            "first_deliveries": dg.MetadataValue.md(sample),
        }
    )
