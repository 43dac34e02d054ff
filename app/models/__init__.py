"""Every table, re-exported so Alembic's env.py and the services see one metadata."""

from .audit import AuditLog
from .base import Base
from .events import DeadLetter, EventQueue, EventQueueArchive, Outbox, ProcessedEvent, event_history
from .ledger import ImportBatch, LedgerReversal, PendingCredit, PointsLot, PointsTransaction
from .profile import CustomerLoyaltyProfile, Order, RedactedCustomer
from .referrals import ReferralClick, ReferralConversion, ReferralLink
from .rewards import RedemptionLog, RewardDefinition
from .rules import Rule, RuleBacktest, RuleExecution, RuleRetroRun, RuleVersion
from .shop import Shop
from .tiers import TierDefinition
from .webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "AuditLog",
    "Base",
    "CustomerLoyaltyProfile",
    "DeadLetter",
    "EventQueue",
    "EventQueueArchive",
    "ImportBatch",
    "LedgerReversal",
    "Order",
    "Outbox",
    "PendingCredit",
    "PointsLot",
    "PointsTransaction",
    "ProcessedEvent",
    "RedactedCustomer",
    "RedemptionLog",
    "ReferralClick",
    "ReferralConversion",
    "ReferralLink",
    "RewardDefinition",
    "Rule",
    "RuleBacktest",
    "RuleRetroRun",
    "RuleExecution",
    "RuleVersion",
    "Shop",
    "TierDefinition",
    "WebhookDelivery",
    "WebhookEndpoint",
    "event_history",
]
