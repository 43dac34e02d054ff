"""What shoppers read about their own loyalty, shaped for the storefront API."""

from app.loyalty.read_models.profile import ProfileView, RedemptionView, loyalty_profile, redemption_view

__all__ = ["ProfileView", "RedemptionView", "loyalty_profile", "redemption_view"]
