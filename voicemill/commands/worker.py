"""``voicemill worker``: a Celery worker that runs deliver_campaign's steps.

It is dagster-celery's step task on our Celery settings (the ones the executor uses,
voicemill.orchestration.executors), in one process: tasks run on ``--concurrency``
threads, so the voice a shard loads stays loaded for the next shard of the same
campaign (voicemill.campaign.voice keeps it per process), and ``kill -9`` of the worker
ends every task it held, which the broker then hands to another worker.
"""

from __future__ import annotations

import socket

import click


@click.command("worker")
@click.option(
    "--queues",
    default="default,shards",
    show_default=True,
    help="Which queues to consume: default (short bookkeeping steps) and/or shards "
    "(synthesis); the names get VOICEMILL_CELERY_QUEUE_PREFIX.",
)
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Steps at a time (threads sharing the loaded voices). Above 1, the steps' captured "
    "output mixes in the compute logs of a local instance; scale with more workers instead.",
)
@click.option("--name", default=None, help="Worker name (default: voicemill-<pid>@<host>).")
@click.option(
    "--loglevel",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def worker(queues: str, concurrency: int, name: str | None, loglevel: str) -> None:
    """Run campaign steps from the Celery broker (VOICEMILL_EXECUTOR=celery sends them).

    The broker is VOICEMILL_CELERY_BROKER_URL (RabbitMQ by default); the database,
    registry and storage settings must be the ones the Dagster instance uses.
    """
    import os

    from voicemill.orchestration.executors import celery_app, queue
    from voicemill.platform import bootstrap

    kinds = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(kinds) - {"default", "shards"})
    if unknown or not kinds:
        raise click.BadParameter(
            f"unknown queues {unknown}: use default and/or shards", param_hint="--queues"
        )
    bootstrap()  # the instance's environment (DAGSTER_HOME, its database) for the tasks
    app = celery_app()
    app.worker_main(
        [
            "worker",
            "--queues", ",".join(queue(kind) for kind in kinds),  # type: ignore[arg-type]
            "--pool", "threads",
            "--concurrency", str(concurrency),
            "--hostname", name or f"voicemill-{os.getpid()}@{socket.gethostname()}",
            "--loglevel", loglevel.upper(),
            "--without-gossip", "--without-mingle",  # workers need not know each other
        ]
    )  # fmt: skip
