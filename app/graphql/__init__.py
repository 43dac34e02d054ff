"""Edge: the storefront GraphQL API (Ariadne, schema-first) for the checkout, customer-account and theme extensions."""
