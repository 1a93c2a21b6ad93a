"""The ``voicemill`` command line (click, which Dagster already depends on).

Commands start or find the platform's PostgreSQL themselves, so every command
works on a fresh machine after ``scripts/setup.sh``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from voicemill.commands.campaign import campaign
from voicemill.commands.checkpoint import checkpoint
from voicemill.commands.keys import keys
from voicemill.commands.models import models
from voicemill.commands.profiles import profiles
from voicemill.commands.requests import requests
from voicemill.commands.serve import serve
from voicemill.commands.synth import synth
from voicemill.commands.worker import worker
from voicemill.settings import PROJECT_ROOT, get_settings


class _Main(click.Group):
    """Settings that cannot work end the command with one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        from voicemill.errors import ConfigurationError

        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Main)
def main() -> None:
    """VoiceMill: data and training platform for GPT-SoVITS voice cloning."""


# -- platform -----------------------------------------------------------------


def _run_dagster(args: list[str], program: str = "dagster") -> int:
    """Run a Dagster CLI (``dagster``, ``dagster-webserver``, ``dagster-daemon``) with the
    platform's instance (database, storage) configured."""
    from voicemill.platform import bootstrap

    env = bootstrap()
    executable = str(Path(sys.executable).with_name(program))
    # Not from the project root: Dagster would load its .env (written for plain dagster
    # commands) over this process's settings, e.g. another VOICEMILL_HOME.
    return subprocess.call(
        [executable, *args], env={**os.environ, **env}, cwd=env["VOICEMILL_HOME"]
    )


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_or_kill(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for a child that was asked to stop; SIGKILL its process group after ``timeout``."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


@main.command()
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: .env at the project root, next to dagster.yaml).",
)
def dotenv(path: Path | None) -> None:
    """Start PostgreSQL if needed and write the .env plain Dagster commands read.

    After it, `dagster dev` (or `dagster job launch …`) run from the project root use
    VoiceMill's instance. After a reboot, any voicemill command restarts the embedded
    PostgreSQL first.
    """
    from voicemill.platform import bootstrap, write_dotenv

    target = write_dotenv(path or PROJECT_ROOT / ".env", bootstrap())
    click.echo(f"wrote {target}")


def exposure_warning(host: str) -> str | None:
    """What to tell someone binding the unauthenticated Dagster UI beyond loopback."""
    import ipaddress

    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve to anything
    return (
        f"WARNING: the Dagster UI has no authentication, and --host {host} lets anyone who "
        "can reach this machine launch and cancel runs and read run configs, logs and "
        "asset metadata. Bind to 127.0.0.1 and reach it through an SSH tunnel or an "
        "authenticating reverse proxy."
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option(
    "--mlflow-port", default=5000, show_default=True, type=int, help="MLflow UI port (127.0.0.1)."
)
@click.option("--mlflow/--no-mlflow", "with_mlflow", default=True, help="Serve the MLflow UI.")
def dev(host: str, port: int, mlflow_port: int, with_mlflow: bool) -> None:
    """Start the Dagster UI and daemon, and the MLflow UI, on the platform database.

    Both run as child processes in their own process groups; Ctrl-C or SIGTERM
    stops them (Dagster gets SIGTERM, which it treats like Ctrl-C).
    """
    import threading

    from voicemill.platform import bootstrap
    from voicemill.tracking import server as mlflow_server
    from voicemill.tracking import store

    # Also when started with SIGINT ignored (a background job): the children inherit
    # an ignored SIGINT, and dagster dev treats SIGTERM like SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    warning = exposure_warning(host)
    if warning:
        click.secho(warning, err=True, fg="yellow")
    env = bootstrap()
    settings = get_settings()
    dagster_proc: subprocess.Popen[bytes] | None = None
    mlflow_proc: subprocess.Popen[bytes] | None = None
    stopping = threading.Event()
    rc = 0
    try:
        uri = store.tracking_uri(settings)
        if with_mlflow and store.is_database_uri(uri):
            log_path = settings.home_dir / "logs" / "mlflow-server.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("ab") as log:
                mlflow_proc = mlflow_server.start_server(
                    port=mlflow_port, settings=settings, log_file=log
                )

            def watch(proc: subprocess.Popen[bytes] = mlflow_proc) -> None:
                proc.wait()
                if not stopping.is_set():
                    click.echo(f"MLflow UI exited ({proc.returncode}); see {log_path}", err=True)

            threading.Thread(target=watch, daemon=True).start()
            click.echo(f"MLflow UI on http://127.0.0.1:{mlflow_port} (log: {log_path})")
        elif with_mlflow:
            click.echo(f"MLflow tracking server: {uri}")
        click.echo(f"Dagster UI on http://{host}:{port}")
        workspace = str(PROJECT_ROOT / "workspace.yaml")
        dagster = str(Path(sys.executable).with_name("dagster"))
        dagster_proc = subprocess.Popen(
            [dagster, "dev", "-w", workspace, "-h", host, "-p", str(port)],
            env={**os.environ, **env},
            cwd=settings.home_dir,  # not the project root: see _run_dagster
            start_new_session=True,
        )
        rc = dagster_proc.wait()
    except KeyboardInterrupt:
        rc = 130
    finally:
        # Shutting down: a second Ctrl-C must not cut the cleanup short (it is bounded).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopping.set()
        if dagster_proc is not None and dagster_proc.poll() is None:
            dagster_proc.terminate()
        if mlflow_proc is not None:
            mlflow_server.stop_server(mlflow_proc)
        if dagster_proc is not None:
            _wait_or_kill(dagster_proc, timeout=90)
    raise SystemExit(rc)


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


_WORKSPACE = ["-w", str(PROJECT_ROOT / "workspace.yaml")]
_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


@main.command("dagster-webserver", context_settings=_PASSTHROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dagster_webserver(args: tuple[str, ...]) -> None:
    """``dagster-webserver`` on the platform's instance and code location (the UI alone,
    for deployments that run the daemon apart; ``voicemill dev`` runs both).

    e.g. ``voicemill dagster-webserver -h 0.0.0.0 -p 3000`` behind an authenticating proxy.
    """
    raise SystemExit(_run_dagster([*_WORKSPACE, *args], "dagster-webserver"))


@main.command("dagster-daemon", context_settings=_PASSTHROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def dagster_daemon(args: tuple[str, ...]) -> None:
    """``dagster-daemon run`` (schedules, sensors, the run queue) on the platform's instance."""
    raise SystemExit(_run_dagster(["run", *_WORKSPACE, *args], "dagster-daemon"))


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


@main.group()
def mlflow() -> None:
    """MLflow tracking: the UI, the store's URI, its schema."""


@mlflow.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=5000, show_default=True, type=int)
def mlflow_ui(host: str, port: int) -> None:
    """Serve the MLflow UI and tracking server (voicemill dev starts it too).

    It has no authentication: beyond loopback (``--host 0.0.0.0`` in a container), put
    it behind an authenticating proxy or a private network.
    """
    from voicemill.platform import bootstrap
    from voicemill.tracking import server as mlflow_server
    from voicemill.tracking import store

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    bootstrap()
    uri = store.tracking_uri()
    if not store.is_database_uri(uri):
        raise click.ClickException(f"the tracking store is a server already: {uri}")
    proc = mlflow_server.start_server(host=host, port=port)
    click.echo(f"MLflow UI on http://{host}:{port}")
    try:
        rc = proc.wait()
    except KeyboardInterrupt:
        rc = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        mlflow_server.stop_server(proc)
    raise SystemExit(rc)


@mlflow.command("uri")
def mlflow_uri() -> None:
    """Print the tracking URI and the artifact root (e.g. for MLFLOW_TRACKING_URI)."""
    from voicemill.platform import bootstrap
    from voicemill.tracking import store

    bootstrap()
    click.echo(f"tracking uri:  {store.tracking_uri()}")
    click.echo(f"artifact root: {store.artifact_root()}")


@mlflow.command("migrate")
def mlflow_migrate() -> None:
    """Create or upgrade MLflow's tables (otherwise done on first use)."""
    import time

    from voicemill.platform import bootstrap
    from voicemill.tracking import store

    bootstrap()
    started = time.perf_counter()
    changed = store.ensure_schema()
    state = "migrated" if changed else "already current"
    click.echo(
        f"MLflow schema {state} at {store.schema_head()} ({time.perf_counter() - started:.1f} s)"
    )


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
    from voicemill.errors import RejectedInput
    from voicemill.orchestration.workflows import register_dataset

    try:
        register_dataset(dataset_id, source_uri, speaker=speaker, language=language)
    except RejectedInput as exc:
        raise click.ClickException(f"{exc.reason}: {exc.detail}") from exc
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
@click.option(
    "--voices/--no-voices",
    default=True,
    show_default=True,
    help="Also pretrain the tiny base and release one voice per speaker.",
)
def demo(
    corpus_dir: Path | None,
    regenerate: bool,
    recordings_per_speaker: int,
    sentences_per_recording: int,
    voices: bool,
) -> None:
    """Generate the demo corpus, prepare every dataset and release a voice per speaker."""
    from voicemill.orchestration.workflows import run_demo

    results = run_demo(
        corpus_dir or get_settings().home_dir / "demo_corpus",
        regenerate=regenerate,
        recordings_per_speaker=recordings_per_speaker,
        sentences_per_recording=sentences_per_recording,
        voices=voices,
    )
    if not all(results.values()):
        raise SystemExit(1)


# Model commands live in voicemill.commands; they import torch only when they run.
main.add_command(checkpoint)
main.add_command(synth)
main.add_command(models)
main.add_command(campaign)
main.add_command(profiles)
main.add_command(keys)
main.add_command(requests)
main.add_command(serve)
main.add_command(worker)

if __name__ == "__main__":
    main()
