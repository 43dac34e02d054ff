"""Edge: the inbox (event_queue), the Redis stream that carries it, and the consumer loop."""
