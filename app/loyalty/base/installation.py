"""Whether a shop has loyalty installed: the one decision that webhook ingest, event processing, the storefront API,
the admin and the Admin API token store all ask, so that they never disagree.

A shop row is created only when a token exchange or an OAuth callback installs the app (never by a webhook alone),
and `app/uninstalled` marks it uninstalled; a reinstall (a new token exchange) clears the mark and keeps its data.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol


class Installation(enum.Enum):
    NEVER_INSTALLED = "never_installed"
    INSTALLED = "installed"
    UNINSTALLED = "uninstalled"


class HasInstallDates(Protocol):
    """A shop row, or any row selected with its two install columns."""

    @property
    def installed_at(self) -> datetime | None: ...

    @property
    def uninstalled_at(self) -> datetime | None: ...


# What still applies to an uninstalled shop: Shopify's compliance duties outlive the install (shop/redact arrives
# 48 hours after the uninstall), and a repeated app/uninstalled must stay harmless.
_PROCESSED_WHEN_UNINSTALLED = frozenset(
    {"app_uninstalled", "shop_redact_requested", "customer_redact_requested", "customer_data_requested"}
)


def installation_of(shop: HasInstallDates | None) -> Installation:
    """The shop's state: no row, or a row never installed (left by older versions), is NEVER_INSTALLED."""
    if shop is None or shop.installed_at is None:
        return Installation.NEVER_INSTALLED
    if shop.uninstalled_at is not None:
        return Installation.UNINSTALLED
    return Installation.INSTALLED


def records_events(shop: HasInstallDates | None) -> bool:
    """Whether webhooks for this shop go into the inbox: not for a shop that never installed (answered, dropped)."""
    return installation_of(shop) is not Installation.NEVER_INSTALLED


def processes_event(shop: HasInstallDates | None, event_type: str) -> bool:
    """Whether an event of this shop is processed: every event while installed; after an uninstall, only the
    uninstall itself and the compliance topics (the others are recorded, not processed)."""
    installation = installation_of(shop)
    if installation is Installation.INSTALLED:
        return True
    return installation is Installation.UNINSTALLED and event_type in _PROCESSED_WHEN_UNINSTALLED
