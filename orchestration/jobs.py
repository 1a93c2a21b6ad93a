"""Jobs: named selections with their run-queue priority and lane tags.

``dagster/priority`` orders the run queue (higher first); ``voicemill/lane``
is what dagster.yaml's tag concurrency limits key on.
"""

import dagster as dg

from voicemill.orchestration.partitions import datasets_partitions

prepare_dataset_job = dg.define_asset_job(
    name="prepare_dataset",
    description="Ingest → standardize → segment → align → manifest for one dataset.",
    selection=dg.AssetSelection.groups("data"),
    partitions_def=datasets_partitions,
    tags={"dagster/priority": "0", "voicemill/lane": "data"},
)
