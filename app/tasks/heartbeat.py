"""Worker liveness, kept apart from the Huey instance so the web process can read it without loading Huey."""

WORKER_HEARTBEAT = "workers"
HEARTBEAT_TTL_S = 150
