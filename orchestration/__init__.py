"""Dagster wiring: the Definitions entry point, resources, partitions, jobs, sensors."""
