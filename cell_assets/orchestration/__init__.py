"""The Dagster wiring: partitions, run tags, resources and the IO manager, the per-run plate
context, jobs, sensors and the upload rules they apply, asset checks, the run queue, placement.
"""
