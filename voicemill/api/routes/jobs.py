"""``/v1/jobs``: the batch lane. A job is a campaign, submitted as the CLI submits one.

``POST /v1/jobs`` takes the campaign spec and its recipients, either as JSON
(``{"spec": {...}, "recipients": [{...}, ...]}``) or as ``multipart/form-data`` with a
``spec`` field (JSON or YAML text) and a ``recipients`` CSV file. It validates and
records the campaign exactly as ``voicemill campaign submit`` does; Dagster's
``campaign_inbox_sensor`` then launches it through the run queue at campaign
priority (``voicemill dev`` runs the daemon). Nothing of a job runs in the real-time
service. ``GET /v1/jobs/{id}`` gives its status, counts by delivery status, the Dagster
run and where the report and the audio are.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from voicemill.api.deps import State, jobs_key
from voicemill.api.errors import ApiError
from voicemill.api.keys import ApiKey
from voicemill.api.schemas import JobInfo, JobRequest
from voicemill.api.state import ServiceState
from voicemill.errors import RejectedInput

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_JOB_ID = PathParam(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["spec", "recipients"],
    "properties": {
        "spec": {"type": "string", "description": "The campaign spec, JSON or YAML."},
        "recipients": {"type": "string", "format": "binary", "description": "recipients.csv"},
    },
}


async def _files_from_request(request: Request, folder: Path) -> tuple[Path, Path]:
    """spec.json|yaml and recipients.csv in ``folder``, from JSON or multipart."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            job = JobRequest.model_validate_json(await request.body())
        except ValueError as exc:
            raise ApiError("invalid_request", f"not a job: {str(exc)[:500]}") from exc
        spec_path = folder / "spec.json"
        spec_path.write_text(json.dumps(job.spec), encoding="utf-8")
        recipients_path = folder / "recipients.csv"
        _write_csv(job.recipients, recipients_path)
        return spec_path, recipients_path
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=4) as form:
            spec = form.get("spec")
            upload = form.get("recipients")
            if not isinstance(spec, str) or upload is None or isinstance(upload, str):
                raise ApiError(
                    "invalid_request", "send a 'spec' text field and a 'recipients' CSV file"
                )
            spec_path = folder / ("spec.json" if spec.lstrip().startswith("{") else "spec.yaml")
            spec_path.write_text(spec, encoding="utf-8")
            recipients_path = folder / "recipients.csv"
            recipients_path.write_bytes(await upload.read())
        return spec_path, recipients_path
    raise ApiError("unsupported_media_type", "send application/json or multipart/form-data")


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def _allowed_priority(spec_path: Path, key: ApiKey) -> None:
    """``priority: urgent`` takes the reserved run slot and the top Celery priority: only
    keys that also hold the ``admin`` scope may ask for it."""
    from voicemill.campaign.spec import load_campaign_spec

    try:
        spec = load_campaign_spec(spec_path)
    except RejectedInput as exc:
        raise ApiError(exc.reason, exc.detail) from exc
    if spec.priority == "urgent" and not key.allows_scope("admin"):
        raise ApiError(
            "scope_not_allowed", f"key {key.name!r} may not submit urgent jobs (needs 'admin')"
        )


def _submit(spec_path: Path, recipients_path: Path) -> str:
    from voicemill.orchestration.workflows import submit_campaign_files

    try:
        return submit_campaign_files(spec_path, recipients_path).campaign_id
    except RejectedInput as exc:
        status = 409 if exc.reason == "campaign_exists" else None
        raise ApiError(exc.reason, exc.detail, status=status) from exc


def _info(state: ServiceState, campaign_id: str) -> JobInfo:
    from voicemill.campaign.audit import campaign_summary, get_campaign
    from voicemill.orchestration.resources import CampaignResource

    try:
        with state.connect() as conn:
            campaign = get_campaign(conn, campaign_id)
            summary = campaign_summary(conn, campaign_id)
    except RejectedInput as exc:
        raise ApiError("unknown_job", f"no job {campaign_id!r}") from exc
    campaigns = CampaignResource()
    report = campaigns.campaign_dir(campaign_id) / "report" / "report.html"
    target = campaigns.storage_target(str(campaign.spec.get("storage_url") or ""))
    return JobInfo(
        id=campaign_id,
        status=campaign.status,
        submitted_at=campaign.submitted_at,
        counts={
            "total": summary.total,
            "pending": summary.pending,
            "published": summary.published,
            "failed": summary.failed,
            "rejected": summary.rejected,
        },
        run_id=_latest_run(campaign_id),
        report_url=f"/v1/jobs/{campaign_id}/report" if report.is_file() else None,
        deliveries_url=f"{target.url.rstrip('/')}/{campaign_id}/",
    )


def _latest_run(campaign_id: str) -> str | None:
    """The newest Dagster run of the campaign's partition, if any."""
    import dagster as dg

    from voicemill.orchestration.workflows import instance

    records = instance().get_run_records(
        filters=dg.RunsFilter(job_name="deliver_campaign", tags={"dagster/partition": campaign_id}),
        limit=1,
    )
    return records[0].dagster_run.run_id if records else None


@router.post(
    "",
    status_code=202,
    response_model=JobInfo,
    summary="Submit a campaign to the batch lane.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": JobRequest.model_json_schema()},
                "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            },
        }
    },
)
async def submit_job(
    request: Request, state: State, key: Annotated[ApiKey, Depends(jobs_key)]
) -> JobInfo:
    scratch = state.settings.home_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        spec_path, recipients_path = await _files_from_request(request, Path(tmp))
        await run_in_threadpool(_allowed_priority, spec_path, key)
        campaign_id = await run_in_threadpool(_submit, spec_path, recipients_path)
    return await run_in_threadpool(_info, state, campaign_id)


@router.get("/{job_id}", response_model=JobInfo, summary="A job's status and counts.")
async def get_job(
    state: State,
    key: Annotated[ApiKey, Depends(jobs_key)],
    job_id: Annotated[str, _JOB_ID],
) -> JobInfo:
    return await run_in_threadpool(_info, state, job_id)


@router.get(
    "/{job_id}/report",
    summary="The job's HTML report, once written.",
    response_class=FileResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The report"}},
)
async def get_report(
    state: State,
    key: Annotated[ApiKey, Depends(jobs_key)],
    job_id: Annotated[str, _JOB_ID],
) -> FileResponse:
    from voicemill.orchestration.resources import CampaignResource

    info = await run_in_threadpool(_info, state, job_id)
    if info.report_url is None:
        raise ApiError("not_found", f"job {job_id!r} has no report yet")
    path = CampaignResource().campaign_dir(job_id) / "report" / "report.html"
    return FileResponse(path, media_type="text/html")
