"""Edge: what loyalty sends to merchants' own systems (signed outbound webhooks)."""
