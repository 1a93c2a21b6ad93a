"""Partitions: one dynamic partition per dataset (one speaker's recordings)."""

import dagster as dg

datasets_partitions = dg.DynamicPartitionsDefinition(name="datasets")
