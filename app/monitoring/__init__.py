"""Edge: health, stream lag and metrics for operators."""
