"""Edge: what developers and operators read in a browser: the repository's docs at /docs, and the GraphQL explorer."""
