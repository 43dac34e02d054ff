"""The embedded admin (HTMX views in Shopify admin), every view behind app.shopify.admin_auth.admin_required."""
