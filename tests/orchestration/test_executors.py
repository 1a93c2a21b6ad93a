"""Executor selection, campaign classes and the settings the container images rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from voicemill.orchestration.executors import (
    DEFAULT_PRIORITY,
    MAX_PRIORITY,
    RUN_PRIORITY_TAG,
    campaign_executor,
    campaign_run_tags,
    celery_app_config,
    celery_executor_config,
    queue,
)
from voicemill.settings import PROJECT_ROOT, Settings


def test_the_executor_follows_the_setting_and_keeps_broker_secrets_out_of_definitions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster as dg

    assert campaign_executor(Settings(executor="multiprocess")) is dg.multiprocess_executor
    monkeypatch.setenv("VOICEMILL_CELERY_BROKER_URL", "amqp://user:s3cret@mq:5672//")
    celery = campaign_executor(Settings(executor="celery"))
    assert celery.name == "celery"
    config = celery_executor_config(Settings(executor="celery"))
    assert config["broker"] == {"env": "VOICEMILL_CELERY_BROKER_URL"}  # resolved by the worker
    assert "s3cret" not in repr(config)
    with pytest.raises(ValueError):
        Settings(executor="threads")


def test_campaign_classes_order_the_run_queue_and_the_celery_queues() -> None:
    tags = {cls: campaign_run_tags(cls) for cls in ("urgent", "normal", "bulk")}
    run_priority = [int(tags[c]["dagster/priority"]) for c in ("urgent", "normal", "bulk")]
    task_priority = [
        DEFAULT_PRIORITY + int(tags[c][RUN_PRIORITY_TAG]) for c in ("urgent", "normal", "bulk")
    ]
    assert run_priority == sorted(run_priority, reverse=True) and len(set(run_priority)) == 3
    assert task_priority == sorted(task_priority, reverse=True) and len(set(task_priority)) == 3
    assert all(0 <= p <= MAX_PRIORITY for p in task_priority)  # inside RabbitMQ's range

    # dagster.yaml gives urgent campaigns a slot of their own and bulk ones at most one.
    instance = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    limits = {(rule["key"], rule.get("value")): rule["limit"]
              for rule in instance["concurrency"]["runs"]["tag_concurrency_limits"]}  # fmt: skip
    assert limits[("voicemill/lane", tags["urgent"]["voicemill/lane"])] == 1
    assert limits[("voicemill/lane", tags["normal"]["voicemill/lane"])] == 2
    assert limits[("voicemill/campaign_class", "bulk")] == 1
    assert tags["bulk"]["voicemill/lane"] == tags["normal"]["voicemill/lane"]


def test_the_sensor_launches_a_campaign_with_its_class() -> None:
    from voicemill.campaign.records import CampaignRecord
    from voicemill.orchestration.sensors import campaign_run_request

    def request(spec: dict):
        record = CampaignRecord(
            campaign_id="c1", spec=spec, spec_sha256="a" * 64, recipients_uri="file:///r.csv",
            recipients_sha256="b" * 64, voice_profile="v", use_case="ivr",
        )  # fmt: skip
        return campaign_run_request(record).tags

    assert request({"priority": "urgent"})[RUN_PRIORITY_TAG] == "4"
    assert request({"priority": "urgent"})["voicemill/lane"] == "campaign-urgent"
    assert request({})["voicemill/campaign_class"] == "normal"  # specs from before the field


def test_workers_and_executor_agree_on_queues_and_acknowledge_late() -> None:
    settings = Settings(celery_queue_prefix="team-a")
    config = celery_app_config(settings)
    assert config["task_default_queue"] == queue("default", settings) == "team-a"
    assert queue("shards", settings) == "team-a.shards"
    assert config["task_acks_late"] and config["worker_prefetch_multiplier"] == 1
    with pytest.raises(ValueError):
        Settings(celery_queue_prefix="../etc")


def test_without_the_embedded_database_a_database_url_is_required(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "VOICEMILL_HOME": str(tmp_path),
        "VOICEMILL_EMBEDDED_DATABASE": "false",
    }
    result = subprocess.run(
        [sys.executable, "-m", "voicemill.cli", "db", "migrate"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "VOICEMILL_DATABASE_URL is required" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "pgdata").exists()  # nothing started
