"""The points ledger: append-only entries with the stored balance they change, lots and their expiry, pending
credits, reversals (refunds, cancellations), admin adjustments, CSV import and export, the liability figure, the
shop's points policies (and what its points are called), and the customer profile rows that hold the balance (found,
created and locked here)."""

from app.loyalty.ledger.adjustments import adjust_points
from app.loyalty.ledger.csv_io import (
    EXPORT_COLUMNS,
    ImportResult,
    export_ledger_csv,
    import_opening_balances,
    reverse_import,
)
from app.loyalty.ledger.entries import (
    Cause,
    CreditResult,
    DebitResult,
    credit,
    debit,
    drifted_profiles,
    ledger_balance,
    new_lot_expiry,
    post_entry,
)
from app.loyalty.ledger.expiry import expire_due
from app.loyalty.ledger.pending import release_due
from app.loyalty.ledger.policies import Policies, policies_of, update_policies
from app.loyalty.ledger.profiles import find_profile, lock_existing_profile, lock_profile, lock_profile_by_id
from app.loyalty.ledger.refunds import (
    RefundAmount,
    ReversalResult,
    apply_cancellation,
    apply_refund,
    fully_refunded,
    refund_amount,
)
from app.loyalty.ledger.reversals import close_request, open_request, take_back_rest

__all__ = [
    "Cause",
    "CreditResult",
    "DebitResult",
    "EXPORT_COLUMNS",
    "ImportResult",
    "Policies",
    "RefundAmount",
    "ReversalResult",
    "adjust_points",
    "apply_cancellation",
    "apply_refund",
    "close_request",
    "credit",
    "debit",
    "drifted_profiles",
    "expire_due",
    "export_ledger_csv",
    "find_profile",
    "fully_refunded",
    "import_opening_balances",
    "ledger_balance",
    "lock_existing_profile",
    "lock_profile",
    "lock_profile_by_id",
    "new_lot_expiry",
    "open_request",
    "policies_of",
    "post_entry",
    "refund_amount",
    "release_due",
    "reverse_import",
    "take_back_rest",
    "update_policies",
]
