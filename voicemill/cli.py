"""The ``voicemill`` command line (click, which Dagster already depends on).

Commands start or find the platform's PostgreSQL themselves, so every command
works on a fresh machine after ``scripts/setup.sh``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from voicemill.commands.checkpoint import checkpoint
from voicemill.commands.synth import synth
from voicemill.settings import PROJECT_ROOT, get_settings


@click.group()
def main() -> None:
    """VoiceMill: data and training platform for GPT-SoVITS voice cloning."""


# -- platform -----------------------------------------------------------------


def _run_dagster(args: list[str]) -> int:
    """Run the dagster CLI with the platform's instance (database, storage) configured."""
    from voicemill.platform import bootstrap

    env = bootstrap()
    dagster = str(Path(sys.executable).with_name("dagster"))
    return subprocess.call([dagster, *args], env={**os.environ, **env}, cwd=PROJECT_ROOT)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
def dev(host: str, port: int) -> None:
    """Start the Dagster UI and daemon on the platform database."""
    click.echo(f"Dagster UI on http://{host}:{port}")
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    raise SystemExit(_run_dagster(["dev", "-w", workspace, "-h", host, "-p", str(port)]))


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dagster(args: tuple[str, ...]) -> None:
    """Any dagster CLI command, against the platform's instance.

    e.g. ``voicemill dagster definitions validate -m voicemill.orchestration.definitions``
    """
    raise SystemExit(_run_dagster(list(args)))


@main.group()
def db() -> None:
    """The platform's PostgreSQL (embedded unless VOICEMILL_DATABASE_URL is set)."""


@db.command("migrate")
def db_migrate() -> None:
    """Create the databases and apply schema migrations."""
    from voicemill.db import migrate
    from voicemill.platform import bootstrap

    bootstrap()
    click.echo(f"schema at revision {migrate.current_revision()}")


@db.command("url")
@click.option("--database", type=click.Choice(["app", "dagster", "mlflow"]), default="app")
def db_url(database: str) -> None:
    """Print a connection URL (psql accepts it)."""
    from voicemill.db.server import Database, database_url

    click.echo(database_url(Database(database)))


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server."""
    from voicemill.db.server import stop_embedded

    click.echo("stopped" if stop_embedded() else "the embedded server was not running")


# -- corpus -------------------------------------------------------------------


@main.group()
def corpus() -> None:
    """Synthetic speech corpora made with espeak-ng."""


@corpus.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--recordings-per-speaker", default=3, show_default=True)
@click.option("--sentences-per-recording", default=8, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--bad-inputs/--no-bad-inputs", default=True, show_default=True)
def corpus_generate(
    out_dir: Path,
    recordings_per_speaker: int,
    sentences_per_recording: int,
    seed: int,
    bad_inputs: bool,
) -> None:
    """Generate the multi-speaker demo corpus (English and Mandarin) into OUT_DIR."""
    from voicemill.corpus import generate_demo_corpus

    summary = generate_demo_corpus(
        out_dir,
        recordings_per_speaker=recordings_per_speaker,
        sentences_per_recording=sentences_per_recording,
        seed=seed,
        include_bad_inputs=bad_inputs,
    )
    click.echo(f"wrote {out_dir}: {summary}")


# -- datasets -----------------------------------------------------------------


@main.group()
def dataset() -> None:
    """Datasets: one speaker's recordings, one Dagster partition each."""


@dataset.command("add")
@click.argument("dataset_id")
@click.argument("source_uri")
@click.option("--speaker", default=None, help="Speaker name (default: the dataset id).")
@click.option("--language", default=None, type=click.Choice(["en", "zh"]))
def dataset_add(
    dataset_id: str, source_uri: str, speaker: str | None, language: str | None
) -> None:
    """Register DATASET_ID with its SOURCE_URI (folder, fsspec URL or .list)."""
    from voicemill.orchestration.workflows import register_dataset

    register_dataset(dataset_id, source_uri, speaker=speaker, language=language)
    click.echo(f"registered {dataset_id} → {source_uri}")


@dataset.command("prepare")
@click.argument("dataset_ids", nargs=-1, required=True)
def dataset_prepare(dataset_ids: tuple[str, ...]) -> None:
    """Run the prepare_dataset job for each dataset, recorded in the Dagster instance."""
    from voicemill.orchestration.workflows import prepare_datasets, print_dataset_summary

    results = prepare_datasets(list(dataset_ids))
    for dataset_id in dataset_ids:
        print_dataset_summary(dataset_id, results.get(dataset_id))


@dataset.command("list")
def dataset_list() -> None:
    """Registered datasets and their utterance counts."""
    from voicemill.orchestration.workflows import dataset_overview

    for row in dataset_overview():
        click.echo(
            f"{row['dataset_id']:<24} {row['recordings']:>4} recordings "
            f"{row['accepted']:>5} accepted {row['rejected']:>5} rejected  {row['source_uri']}"
        )


@dataset.command("show")
@click.argument("dataset_id")
def dataset_show(dataset_id: str) -> None:
    """Counts, manifest location and quarantine reasons of one dataset."""
    from voicemill.orchestration.workflows import print_dataset_summary

    print_dataset_summary(dataset_id)


# -- demo ---------------------------------------------------------------------


@main.command()
@click.option("--corpus-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--regenerate", is_flag=True, help="Regenerate the demo corpus first.")
@click.option("--recordings-per-speaker", default=3, show_default=True)
@click.option("--sentences-per-recording", default=8, show_default=True)
def demo(
    corpus_dir: Path | None,
    regenerate: bool,
    recordings_per_speaker: int,
    sentences_per_recording: int,
) -> None:
    """Generate the demo corpus and prepare every dataset in it, end to end."""
    from voicemill.orchestration.workflows import run_demo

    results = run_demo(
        corpus_dir or get_settings().home_dir / "demo_corpus",
        regenerate=regenerate,
        recordings_per_speaker=recordings_per_speaker,
        sentences_per_recording=sentences_per_recording,
    )
    if not all(results.values()):
        raise SystemExit(1)


# Model commands live in voicemill.commands; they import torch only when they run.
main.add_command(checkpoint)
main.add_command(synth)

if __name__ == "__main__":
    main()
