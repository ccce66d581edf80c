"""The `omvee` command: jobs, stats, purge and stuck rows, through the cluster or the REST API."""
