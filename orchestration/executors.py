"""Where deliver_campaign's steps run: this machine, or Celery workers on any number.

``VOICEMILL_EXECUTOR=multiprocess`` (the default) runs the shards as child processes of
the run. ``VOICEMILL_EXECUTOR=celery`` selects Dagster's own Celery executor
(dagster-celery): each step becomes a task on the broker (RabbitMQ or Redis) and
``voicemill worker`` processes, on this machine or others, execute it. Nothing of the
scheduling is ours; what this module adds is the configuration both sides must share
(:func:`celery_app_config`) and the routing of work by class:

* Queues by kind of step. Synthesis shards go to ``<prefix>.shards``; the short
  bookkeeping steps (recipients, plan, collect, report) to ``<prefix>``. A worker that
  consumes only ``<prefix>`` keeps every campaign's bookkeeping moving however long the
  shard queue is.
* Priorities by class of campaign (the spec's ``priority``, :func:`campaign_run_tags`).
  ``urgent`` (a re-render, an API job marked urgent), ``normal`` and ``bulk`` (large
  campaigns) runs get the Dagster run-queue priority (``dagster/priority``) and a Celery
  run priority (``dagster-celery/run_priority``, added to each task's priority on
  RabbitMQ's priority queues; kombu's Redis transport orders them the other way), so a
  waiting urgent shard is taken before a queued bulk one; dagster.yaml's tag concurrency
  limits give urgent campaigns their own run slot and bulk ones at most one, so neither
  starves the other or the training runs (which never use Celery).

Delivery is at least once per task and exactly once per recipient: tasks are acknowledged
late, so a worker killed mid-shard leaves its task to another worker (RabbitMQ requeues
it when the connection drops), and the shard's advisory lock and the pending rows in
PostgreSQL (``voicemill.campaign.audit``) make the re-run deliver only what is left.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import dagster as dg

from voicemill.settings import Settings, get_settings

CampaignClass = Literal["urgent", "normal", "bulk"]  # CampaignSpec.priority

QUEUE_TAG = "dagster-celery/queue"  # dagster_celery.tags: an op's queue
RUN_PRIORITY_TAG = "dagster-celery/run_priority"  # added to every task's priority
MAX_PRIORITY = 10  # RabbitMQ x-max-priority of the queues
DEFAULT_PRIORITY = 5

# (run-queue priority, Celery run priority, lane tag) per class. The lane tag is what
# dagster.yaml's tag_concurrency_limits count.
_CLASS_TAGS: dict[str, tuple[int, int, str]] = {
    "urgent": (3, 4, "campaign-urgent"),
    "normal": (1, 0, "campaign"),
    "bulk": (0, -4, "campaign"),
}


def queue(kind: Literal["default", "shards"], settings: Settings | None = None) -> str:
    """The Celery queue of a kind of step: ``<prefix>`` or ``<prefix>.shards``."""
    prefix = (settings or get_settings()).celery_queue_prefix
    return prefix if kind == "default" else f"{prefix}.{kind}"


def shard_op_tags() -> dict[str, str]:
    """Tags of the synthesis shard op: its own queue (read only by the Celery executor)."""
    return {QUEUE_TAG: queue("shards")}


def campaign_run_tags(cls: CampaignClass) -> dict[str, str]:
    """The run tags of a campaign run of class ``cls`` (they override the job's tags)."""
    run_priority, celery_priority, lane = _CLASS_TAGS[cls]
    return {
        "dagster/priority": str(run_priority),
        RUN_PRIORITY_TAG: str(celery_priority),
        "voicemill/lane": lane,
        "voicemill/campaign_class": cls,
    }


def celery_app_config(settings: Settings | None = None) -> dict[str, Any]:
    """Celery settings the executor and every worker must agree on."""
    settings = settings or get_settings()
    return {
        # Acknowledged when the step ends, so a task whose worker died is delivered again.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One task at a time per worker slot: a queued urgent shard is never held behind
        # bulk shards that a busy worker prefetched.
        "worker_prefetch_multiplier": 1,
        "task_default_queue": queue("default", settings),
        "task_queue_max_priority": MAX_PRIORITY,
        "task_default_priority": DEFAULT_PRIORITY,
        "broker_connection_retry_on_startup": True,
        # Redis redelivers an unacknowledged task only after this long: longer than a
        # shard can run (RabbitMQ redelivers as soon as the worker's connection drops).
        "broker_transport_options": {"visibility_timeout": settings.campaign_max_runtime_s + 600},
        "worker_hijack_root_logger": False,
    }


def _url_source(variable: str, value: str) -> str | dict[str, str]:
    """A broker URL may hold a password: reference the environment variable when it is
    set, so the value never lands in a definition snapshot or the UI."""
    return {"env": variable} if os.environ.get(variable) else value


def celery_executor_config(settings: Settings | None = None) -> dict[str, Any]:
    """dagster-celery's executor config: broker, backend and :func:`celery_app_config`."""
    settings = settings or get_settings()
    return {
        "broker": _url_source("VOICEMILL_CELERY_BROKER_URL", settings.celery_broker_url),
        "backend": _url_source("VOICEMILL_CELERY_BACKEND_URL", settings.celery_backend_url),
        "config_source": celery_app_config(settings),
    }


def campaign_executor(settings: Settings | None = None) -> dg.ExecutorDefinition:
    """deliver_campaign's executor, by ``VOICEMILL_EXECUTOR``."""
    settings = settings or get_settings()
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_executor_config(settings), name="celery")


def celery_app(settings: Settings | None = None):  # -> celery.Celery
    """The Celery app ``voicemill worker`` runs: dagster-celery's task, our settings."""
    from dagster_celery.config import dict_wrapper
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    settings = settings or get_settings()
    app = make_app(
        {
            "broker": settings.celery_broker_url,
            "backend": settings.celery_backend_url,
            "include": [],
            "config_source": dict_wrapper(celery_app_config(settings)),
        }
    )
    create_task(app)  # the step-execution task the executor sends
    return app
