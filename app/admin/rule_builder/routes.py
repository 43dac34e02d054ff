"""The rule builder's blueprint with every view registered on it (the admin registers `routes.bp`)."""

from app.admin.rule_builder import editor_views, list_views, version_views, what_if_views  # noqa: F401 (views)
from app.admin.rule_builder.blueprint import bp

__all__ = ["bp"]
