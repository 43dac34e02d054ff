"""What shoppers read about their own loyalty, shaped for the storefront API."""

from app.loyalty.read_models.profile import ProfileView, loyalty_profile

__all__ = ["ProfileView", "loyalty_profile"]
