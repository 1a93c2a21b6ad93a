"""Jobs: named selections with their run-queue priority and lane tags.

``dagster/priority`` orders the run queue (higher first); ``voicemill/lane``
is what dagster.yaml's tag concurrency limits key on. ``dagster/max_runtime`` has
the run monitor (dagster.yaml: run_monitoring) stop a campaign run that outlives
``VOICEMILL_CAMPAIGN_MAX_RUNTIME_S``, whatever it is stuck on.
"""

import dagster as dg

from voicemill.orchestration.executors import campaign_executor
from voicemill.orchestration.partitions import campaigns_partitions, datasets_partitions
from voicemill.settings import get_settings

prepare_dataset_job = dg.define_asset_job(
    name="prepare_dataset",
    description="Ingest → standardize → segment → align → manifest for one dataset.",
    selection=dg.AssetSelection.groups("data"),
    partitions_def=datasets_partitions,
    tags={"dagster/priority": "0", "voicemill/lane": "data"},
)

pretrain_base_job = dg.define_asset_job(
    name="pretrain_base",
    description="The base checkpoints: validate the configured files, or pretrain the tiny base.",
    selection=dg.AssetSelection.assets("base_model"),
    tags={"dagster/priority": "-1", "voicemill/lane": "training"},
)

train_voice_job = dg.define_asset_job(
    name="train_voice",
    description="Features → fine-tune → evaluate → register → gate → champion for one speaker.",
    selection=dg.AssetSelection.assets(
        "voice_features", "voice_model", "voice_evaluation", "voice_release", "voice_champion"
    ),
    partitions_def=datasets_partitions,
    tags={"dagster/priority": "-1", "voicemill/lane": "training"},
)

deliver_campaign_job = dg.define_asset_job(
    name="deliver_campaign",
    description="Recipients → audio (sharded) → report for one campaign partition.",
    selection=dg.AssetSelection.groups("campaigns"),
    partitions_def=campaigns_partitions,
    # VOICEMILL_EXECUTOR: shards on this machine or on Celery workers (executors.py).
    executor_def=campaign_executor(),
    # Deliveries are time-bound, so they queue ahead of training; dagster.yaml caps the
    # campaign lane at two concurrent runs, so training and other campaigns still run.
    # A run's class (urgent, normal, bulk) overrides the priority and lane tags.
    tags={
        "dagster/priority": "1",
        "voicemill/lane": "campaign",
        "dagster/max_runtime": str(get_settings().campaign_max_runtime_s),
    },
)
