"""Partitions: one dynamic partition per dataset and one per campaign."""

import dagster as dg

datasets_partitions = dg.DynamicPartitionsDefinition(name="datasets")

# One dynamic partition per campaign (a spec plus its recipients file), added on submission.
campaigns_partitions = dg.DynamicPartitionsDefinition(name="campaigns")
