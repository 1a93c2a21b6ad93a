"""Operator workflows behind the CLI: register datasets, run jobs, summarize.

Runs launched here execute in-process against the platform's Dagster instance
(PostgreSQL), so they appear in the Dagster UI exactly like runs launched there.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import dagster as dg

from voicemill.orchestration.partitions import datasets_partitions
from voicemill.platform import bootstrap
from voicemill.settings import get_settings

if TYPE_CHECKING:
    from voicemill.corpus import CorpusSummary


def instance() -> dg.DagsterInstance:
    bootstrap()
    return dg.DagsterInstance.get()


def register_dataset(
    dataset_id: str,
    source_uri: str,
    *,
    speaker: str | None = None,
    language: str | None = None,
    dagster_instance: dg.DagsterInstance | None = None,
) -> None:
    """Record the dataset's source in the catalog and add its Dagster partition.

    Raises ``SourceError`` for a source the platform will not read (its protocol, or
    credentials in the URL)."""
    from voicemill.data.ingest import check_source_uri
    from voicemill.db import catalog

    check_source_uri(source_uri)
    dagster_instance = dagster_instance or instance()
    with catalog.connect() as conn:
        catalog.upsert_dataset(conn, dataset_id, source_uri, speaker, language)
    if not dagster_instance.has_dynamic_partition(datasets_partitions.name, dataset_id):
        dagster_instance.add_dynamic_partitions(datasets_partitions.name, [dataset_id])


def prepare_datasets(
    dataset_ids: list[str], dagster_instance: dg.DagsterInstance | None = None
) -> dict[str, dg.ExecuteInProcessResult]:
    """Run ``prepare_dataset`` for each dataset; failures are reported, not raised."""
    from voicemill.orchestration.definitions import defs

    dagster_instance = dagster_instance or instance()
    job = defs.resolve_job_def("prepare_dataset")
    results = {}
    for dataset_id in dataset_ids:
        click.echo(f"==> preparing {dataset_id}")
        results[dataset_id] = job.execute_in_process(
            partition_key=dataset_id,
            instance=dagster_instance,
            raise_on_error=False,
            tags={"voicemill/trigger": "cli"},
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    return results


def dataset_overview() -> list[dict[str, Any]]:
    from voicemill.db import catalog

    bootstrap()
    with catalog.connect() as conn:
        return conn.execute(
            """
            SELECT d.dataset_id, d.source_uri,
                   (SELECT count(*) FROM recordings r WHERE r.dataset_id = d.dataset_id)
                       AS recordings,
                   (SELECT count(*) FROM utterances u
                     WHERE u.dataset_id = d.dataset_id AND u.status = 'accepted') AS accepted,
                   (SELECT count(*) FROM utterances u
                     WHERE u.dataset_id = d.dataset_id AND u.status = 'rejected') AS rejected
              FROM datasets d ORDER BY d.dataset_id
            """
        ).fetchall()


def print_dataset_summary(dataset_id: str, result: dg.ExecuteInProcessResult | None = None) -> None:
    from voicemill.data.layout import DatasetLayout
    from voicemill.db import catalog

    bootstrap()
    with catalog.connect() as conn:
        accepted = catalog.utterances(conn, dataset_id, status="accepted")
        quarantine = catalog.quarantined(conn, dataset_id)
    layout = DatasetLayout(get_settings().data_dir, dataset_id)
    hours = sum(u["duration_s"] for u in accepted) / 3600
    status = "" if result is None else ("  [run ok]" if result.success else "  [run FAILED]")
    click.echo(f"{dataset_id}: {len(accepted)} utterances, {hours * 60:.1f} min{status}")
    if result is not None:
        for check in result.get_asset_check_evaluations():
            verdict = "passed" if check.passed else "FAILED"
            click.echo(f"    check {check.check_name}: {verdict}")
    if layout.manifest_path.exists():
        click.echo(f"    manifest: {layout.manifest_path}")
        click.echo(f"    .list:    {layout.list_path}")
    reasons = Counter(f"{row['stage']}/{row['reason']}" for row in quarantine)
    for reason, count in sorted(reasons.items()):
        click.echo(f"    quarantined {count:>3} × {reason}")


def unexpected_outcomes(corpus: CorpusSummary) -> list[str]:
    """Files whose fate in the catalog differs from what the corpus says it must be."""
    from voicemill.db import catalog

    problems = []
    with catalog.connect() as conn:
        for dataset in corpus.datasets:
            quarantine = {
                (q["stage"], q["item"]): q["reason"]
                for q in catalog.quarantined(conn, dataset.dataset_id)
            }
            accepted = {
                u["recording_id"]
                for u in catalog.utterances(conn, dataset.dataset_id, status="accepted")
            }
            names = {
                r["source_name"]: r["recording_id"]
                for r in catalog.recordings(conn, dataset.dataset_id)
            }
            for entry in dataset.files:
                label = f"{dataset.dataset_id}/{entry.name}"
                want = entry.expected
                if want.succeeds:
                    if names.get(entry.name) not in accepted:
                        problems.append(f"{label}: expected in the manifest, has no utterance")
                elif quarantine.get((want.stage, entry.name)) != want.reason:
                    got = quarantine.get((want.stage, entry.name))
                    problems.append(f"{label}: expected {want.stage}/{want.reason}, got {got}")
    return problems


def run_demo(
    corpus_dir: Path,
    *,
    regenerate: bool = False,
    recordings_per_speaker: int = 3,
    sentences_per_recording: int = 8,
    voices: bool = True,
) -> dict[str, bool]:
    """Generate the demo corpus, register its datasets and prepare them all."""
    from voicemill.corpus import generate_demo_corpus, read_corpus_summary
    from voicemill.db.server import database_url

    dagster_instance = instance()
    if regenerate or not (corpus_dir / "corpus.json").exists():
        click.echo(f"==> generating the demo corpus in {corpus_dir}")
        generate_demo_corpus(
            corpus_dir,
            recordings_per_speaker=recordings_per_speaker,
            sentences_per_recording=sentences_per_recording,
            overwrite=True,
        )
    corpus = read_corpus_summary(corpus_dir)
    for dataset in corpus.datasets:
        register_dataset(
            dataset.dataset_id,
            str(corpus_dir / dataset.dataset_id),
            language=dataset.language,
            dagster_instance=dagster_instance,
        )
    dataset_ids = corpus.speakers
    results = prepare_datasets(dataset_ids, dagster_instance)

    voices_ok = {}
    if voices and all(r.success for r in results.values()):
        voices_ok = train_demo_voices(dataset_ids, dagster_instance)
    campaign_id, campaign_ok = None, False
    if voices_ok.get(EXAMPLE_CAMPAIGN_VOICE):
        campaign_id, campaign_ok = run_example_campaign(dagster_instance)

    click.echo("\n==> demo finished")
    for dataset_id in dataset_ids:
        print_dataset_summary(dataset_id, results[dataset_id])
    problems = unexpected_outcomes(corpus)
    files = sum(len(d.files) for d in corpus.datasets)
    click.echo(f"\n{files - len(problems)}/{files} files ended as the corpus expects")
    for problem in problems:
        click.echo(f"    {problem}")
    click.echo(
        "\nWhere to look:\n"
        "  Dagster UI (runs, asset metadata, checks):  voicemill dev   → http://127.0.0.1:3000\n"
        f"  Catalog and quarantine in PostgreSQL:      psql '{database_url()}'\n"
        "      e.g. SELECT stage, reason, count(*) FROM quarantine GROUP BY 1, 2;\n"
        "  Dataset summaries:                          voicemill dataset list | show ID"
    )
    if voices_ok:
        click.echo(
            "  MLflow UI (runs, metrics, plots, models):   voicemill dev   → http://127.0.0.1:5000\n"
            "  Released voices and their history:         voicemill models list | history NAME"
        )
        for dataset_id, ok in voices_ok.items():
            click.echo(f"  voice-{dataset_id}: {'champion released' if ok else 'FAILED'}")
    outcome = {
        dataset_id: result.success and voices_ok.get(dataset_id, True)
        for dataset_id, result in results.items()
    }
    if campaign_id is not None:
        from voicemill.orchestration.resources import CampaignResource

        resource = CampaignResource()
        folder = resource.campaign_dir(campaign_id)
        audio = f"{resource.storage_target().url.rstrip('/')}/{campaign_id}/"
        click.echo(
            f"  Example campaign {campaign_id}:  {'delivered' if campaign_ok else 'FAILED'}\n"
            f"      status and failures:   voicemill campaign status {campaign_id}\n"
            f"      report (HTML):         {folder / 'report' / 'report.html'}\n"
            f"      deliveries table:      {folder / 'report' / 'deliveries.parquet'} (.csv)\n"
            f"      audio files:           {audio}\n"
            "      audit trail:           SELECT * FROM deliveries / delivery_events (psql above)"
        )
        outcome[f"campaign:{campaign_id}"] = campaign_ok
    if any(voices_ok.values()):
        key_file = demo_api_key()
        voice = (
            EXAMPLE_CAMPAIGN_VOICE
            if voices_ok.get(EXAMPLE_CAMPAIGN_VOICE)
            else next(dataset_id for dataset_id, ok in voices_ok.items() if ok)
        )
        request = {"model": "tts-1", "voice": voice, "input": "Hello from VoiceMill."}
        body = json.dumps({**request, "response_format": "mp3"})
        click.echo(
            "  Real-time service (OpenAI-compatible):    voicemill serve → http://127.0.0.1:8000/docs\n"
            f"      an API key for the demo is in {key_file}; then, in another shell:\n"
            "      curl -sS http://127.0.0.1:8000/v1/audio/speech \\\n"
            f'        -H "Authorization: Bearer $(cat {key_file})" \\\n'
            f"        -H 'Content-Type: application/json' -d '{body}' -o hello.mp3"
        )
    return outcome


def demo_api_key() -> Path:
    """A fresh ``demo`` API key (synthesize, jobs) written to ``$VOICEMILL_HOME/demo-api-key``
    (mode 600); an earlier demo key is revoked, so only the newest one works."""
    from voicemill.api.keys import create_key, revoke_key
    from voicemill.db.catalog import connect

    path = get_settings().home_dir / "demo-api-key"
    with connect() as conn:
        revoke_key(conn, "demo")
        _, key = create_key(conn, "demo", ["synthesize", "jobs"])
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(key + "\n", encoding="utf-8")
    return path


EXAMPLE_CAMPAIGN_VOICE = "demo_en_m3"


def run_example_campaign(dagster_instance: dg.DagsterInstance) -> tuple[str, bool]:
    """Submit the packaged example campaign (voicemill/campaign/example) and deliver it."""
    from importlib.resources import files

    example = Path(str(files("voicemill.campaign") / "example"))
    click.echo("\n==> submitting and delivering the example campaign")
    record = submit_campaign_files(
        example / "spec.yaml", example / "recipients.csv", dagster_instance
    )
    return record.campaign_id, deliver_campaign(record.campaign_id, dagster_instance)


DEMO_RELEASE_PROFILE = "demo_release.yaml"


def demo_release_ops() -> dict[str, dict[str, Any]]:
    """Run config of the demo's voice jobs from quality/demo_release.yaml, validated."""
    import yaml

    from voicemill.assets.release import EvaluationConfig, GateCheckConfig
    from voicemill.assets.voices import AdaptationLaunchConfig, BaseModelConfig
    from voicemill.quality.benchmark import BENCHMARK_FILE

    raw = yaml.safe_load(BENCHMARK_FILE.with_name(DEMO_RELEASE_PROFILE).read_text())
    sections = {
        "base_model": BaseModelConfig,
        "voice_model": AdaptationLaunchConfig,
        "voice_evaluation": EvaluationConfig,
        "voice_release_challenger_earns_champion": GateCheckConfig,
    }
    raw["voice_release_challenger_earns_champion"] = raw.pop("gate")
    return {
        op: {"config": config_cls(**raw.get(op, {})).model_dump(exclude_none=True)}
        for op, config_cls in sections.items()
    }


def train_demo_voices(
    dataset_ids: list[str], dagster_instance: dg.DagsterInstance
) -> dict[str, bool]:
    """Pretrain the tiny base on the demo datasets, then release one voice per speaker."""
    from voicemill.orchestration.definitions import defs

    ops = demo_release_ops()
    click.echo("\n==> pretraining the tiny base model on the demo datasets")
    base_config = {**ops["base_model"]["config"], "datasets": dataset_ids}
    base = defs.resolve_job_def("pretrain_base").execute_in_process(
        instance=dagster_instance,
        raise_on_error=False,
        tags={"voicemill/trigger": "demo"},
        run_config={"ops": {"base_model": {"config": base_config}}},
    )
    if not base.success:
        return dict.fromkeys(dataset_ids, False)
    voice_ops = {k: v for k, v in ops.items() if k != "base_model"}
    job = defs.resolve_job_def("train_voice")
    outcome = {}
    for dataset_id in dataset_ids:
        click.echo(f"==> fine-tuning, evaluating and releasing voice-{dataset_id}")
        result = job.execute_in_process(
            partition_key=dataset_id,
            instance=dagster_instance,
            raise_on_error=False,
            tags={"voicemill/trigger": "demo"},
            run_config={"ops": voice_ops},
        )
        outcome[dataset_id] = result.success
    return outcome


def submit_campaign_files(
    spec: Path, recipients: Path, dagster_instance: dg.DagsterInstance | None = None
):  # -> CampaignRecord
    """Submit a campaign (see voicemill.campaign.submission) and add its partition."""
    from voicemill.campaign.submission import submit_campaign
    from voicemill.db.catalog import connect
    from voicemill.orchestration.partitions import campaigns_partitions
    from voicemill.orchestration.resources import CampaignResource

    dagster_instance = dagster_instance or instance()
    with connect() as conn:
        record, _ = submit_campaign(conn, spec, recipients, CampaignResource().root_path)
    if not dagster_instance.has_dynamic_partition(campaigns_partitions.name, record.campaign_id):
        dagster_instance.add_dynamic_partitions(campaigns_partitions.name, [record.campaign_id])
    return record


def deliver_campaign_job_definition() -> dg.JobDefinition:
    """deliver_campaign, reconstructable by module and name (the Celery workers import
    the run's job from this pointer)."""
    from voicemill.orchestration.definitions import defs

    return defs.resolve_job_def("deliver_campaign")


def run_campaign_partition(
    campaign_id: str, dagster_instance: dg.DagsterInstance, tags: dict[str, str]
) -> tuple[bool, list[dg.DagsterEvent]]:
    """One run of the partition, by ``VOICEMILL_EXECUTOR``: in this process, or
    coordinated here with the steps on the Celery workers. (success, the run's events)."""
    if get_settings().executor == "multiprocess":
        result = deliver_campaign_job_definition().execute_in_process(
            partition_key=campaign_id, instance=dagster_instance, raise_on_error=False, tags=tags
        )
        return result.success, result.all_events
    with dg.execute_job(
        dg.reconstructable(deliver_campaign_job_definition),
        instance=dagster_instance,
        tags={**tags, "dagster/partition": campaign_id},
        raise_on_error=False,
    ) as result:
        return result.success, result.all_events


def deliver_campaign(
    campaign_id: str,
    dagster_instance: dg.DagsterInstance | None = None,
    priority: str | None = None,
) -> bool:
    """Materialize one campaign partition from this process; True when every step passed.

    With the default executor the steps run in this process; with
    ``VOICEMILL_EXECUTOR=celery`` this process coordinates and the steps run on the
    Celery workers. ``priority`` overrides the spec's class (urgent, normal, bulk).
    """
    from voicemill.campaign.audit import get_campaign
    from voicemill.campaign.errors import CampaignError
    from voicemill.db.catalog import connect
    from voicemill.orchestration.executors import campaign_run_tags

    dagster_instance = dagster_instance or instance()
    try:
        with connect() as conn:
            spec_priority = get_campaign(conn, campaign_id).spec.get("priority", "normal")
    except CampaignError:  # unknown campaign: the caller's status line says so
        return False
    tags = {"voicemill/trigger": "cli", **campaign_run_tags(priority or spec_priority)}
    success, events = run_campaign_partition(campaign_id, dagster_instance, tags)
    for event in events:
        if event.is_step_failure:
            click.echo(f"  step {event.step_key} failed: {event.event_specific_data.error.message}")
    return success
