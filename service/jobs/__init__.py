"""Job scheduling: the JobManager, the local worker pool, progress notification."""
