"""The embedded admin (HTMX views in Shopify admin), every view behind app.shopify.admin_auth.admin_required.

One blueprint per area (app/admin/shell.py `admin_blueprint`), each view a few lines over a domain service; the
templates are web/templates/admin/, their markup through the Polaris macros of admin/polaris.html.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register_admin(app: Flask) -> None:
    """Register every admin area and the helpers its templates use."""
    from app.admin import customers, dashboard, imports, operations, referrals, rewards, settings, tiers, webhooks
    from app.admin.assets import asset, cache_versioned_assets
    from app.admin.rule_builder import routes as rules
    from app.admin.shell import template_helpers

    for area in (dashboard, customers, imports, rewards, tiers, referrals, rules, settings, webhooks, operations):
        app.register_blueprint(area.bp)
    app.context_processor(template_helpers)
    app.context_processor(lambda: {"asset": asset})
    app.after_request(cache_versioned_assets)
