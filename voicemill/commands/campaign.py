"""``voicemill campaign``: submit a campaign, deliver it, see where it stands."""

from __future__ import annotations

from pathlib import Path

import click


def _campaigns():  # -> CampaignResource
    from voicemill.orchestration.resources import CampaignResource

    return CampaignResource()


@click.group()
def campaign() -> None:
    """Personalized audio campaigns: submit, run, status."""


@campaign.command("submit")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--run",
    "run_now",
    is_flag=True,
    help="Deliver it now in this process instead of waiting for the campaign sensor.",
)
def submit(spec: Path, recipients: Path, run_now: bool) -> None:
    """Validate SPEC and RECIPIENTS, record the campaign and add its partition.

    The campaign sensor (``voicemill dev``, Automation tab) launches it; --run delivers
    it right away.
    """
    from voicemill.campaign.errors import CampaignError
    from voicemill.orchestration.workflows import deliver_campaign, submit_campaign_files

    try:
        record = submit_campaign_files(spec, recipients)
    except CampaignError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.detail}") from exc
    click.echo(f"campaign {record.campaign_id} submitted ({record.status})")
    if run_now:
        ok = deliver_campaign(record.campaign_id)
        _print_status(record.campaign_id)
        if not ok:
            raise SystemExit(1)
    else:
        click.echo("the campaign_inbox_sensor launches it; or run: voicemill campaign run ID")


@campaign.command("run")
@click.argument("campaign_id")
@click.option(
    "--priority",
    type=click.Choice(["urgent", "normal", "bulk"]),
    default=None,
    help="Override the spec's class for this run: its Celery priority under "
    "VOICEMILL_EXECUTOR=celery (e.g. urgent for a re-render of failed deliveries); runs "
    "started here do not wait in Dagster's run queue.",
)
def run(campaign_id: str, priority: str | None) -> None:
    """Materialize CAMPAIGN_ID's partition from this process (resumes an unfinished one).

    Steps run here, or on `voicemill worker` processes under VOICEMILL_EXECUTOR=celery.
    """
    from voicemill.orchestration.workflows import deliver_campaign

    ok = deliver_campaign(campaign_id, priority=priority)
    _print_status(campaign_id)
    if not ok:
        raise SystemExit(1)


@campaign.command("status")
@click.argument("campaign_id")
def status(campaign_id: str) -> None:
    """Deliveries by status, failures by reason, durations, and where the report is."""
    _print_status(campaign_id)


@campaign.command("list")
def list_command() -> None:
    """Every campaign with its status and pinned voice."""
    from voicemill.campaign.audit import list_campaigns
    from voicemill.db.catalog import connect
    from voicemill.platform import bootstrap

    bootstrap()
    with connect() as conn:
        for c in list_campaigns(conn):
            voice = f"{c.model_name} v{c.model_version}" if c.model_version else "-"
            click.echo(f"{c.campaign_id:<32} {c.status:<10} {c.voice_profile:<20} {voice}")


def _print_status(campaign_id: str) -> None:
    from voicemill.campaign.audit import deliveries, get_campaign
    from voicemill.campaign.errors import CampaignError
    from voicemill.campaign.report import campaign_totals, format_summary
    from voicemill.db.catalog import connect
    from voicemill.platform import bootstrap

    bootstrap()
    try:
        with connect() as conn:
            record = get_campaign(conn, campaign_id)
            rows = deliveries(conn, campaign_id)
    except CampaignError as exc:
        raise click.ClickException(f"{exc.reason}: {exc.detail}") from exc
    click.echo(format_summary(record, campaign_totals(rows)))
    if record.failure_reason:
        click.echo(f"failed: {record.failure_reason}: {record.failure_detail}")
    report = _campaigns().campaign_dir(campaign_id) / "report" / "report.html"
    if report.is_file():
        click.echo(f"report: {report}")
