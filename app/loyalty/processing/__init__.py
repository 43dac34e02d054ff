"""The units of work the adapters run in one transaction each: a batch of inbound events (`event.process_batch`,
where rules meet the ledger, with `lifecycle` for refunds, cancellations, GDPR and uninstall; `process_event` is a
batch of one), and one shop's time-driven sweep (`sweeps`). The only package that composes all the others."""

from app.loyalty.processing.event import process_batch, process_event, split_batches
from app.loyalty.processing.sweeps import recalculate_tiers, sweep_shop

__all__ = ["process_batch", "process_event", "recalculate_tiers", "split_batches", "sweep_shop"]
