"""The units of work the adapters run in one transaction each: one inbound event (`event.process_event`,
where rules meet the ledger, with `lifecycle` for refunds, cancellations, GDPR and uninstall), and one shop's
time-driven sweep (`sweeps`). The only package that composes all the others."""

from app.loyalty.processing.event import process_event
from app.loyalty.processing.sweeps import recalculate_tiers, sweep_shop

__all__ = ["process_event", "recalculate_tiers", "sweep_shop"]
