"""Shopify wire formats at the edge: signatures, tokens, topics, Admin API. Verification modules are Flask-free."""
