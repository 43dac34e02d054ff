"""What the merchant reads in the admin: customer search and ledger pages, the dashboard's aggregates, the operations
lists (audit log, dead letters, recent events) and referral conversions. Read-only SQL, one shop at a time, paginated
by keyset (`after` is the last id the previous page showed), never by offset."""

from app.loyalty.reports.customers import (
    CustomerPage,
    LedgerLine,
    LedgerPage,
    customer_ledger,
    customer_redemptions,
    import_batches,
    search_customers,
)
from app.loyalty.reports.dashboard import DashboardFigures, daily_points, dashboard_figures
from app.loyalty.reports.operations import (
    AuditPage,
    DeadLetterPage,
    EventPage,
    audit_page,
    data_request,
    data_requests,
    dead_letter_page,
    event_page,
)
from app.loyalty.reports.referrals import ConversionPage, conversion_page

__all__ = [
    "AuditPage",
    "ConversionPage",
    "CustomerPage",
    "DashboardFigures",
    "DeadLetterPage",
    "EventPage",
    "LedgerLine",
    "LedgerPage",
    "audit_page",
    "conversion_page",
    "customer_ledger",
    "customer_redemptions",
    "daily_points",
    "data_request",
    "data_requests",
    "dashboard_figures",
    "dead_letter_page",
    "event_page",
    "import_batches",
    "search_customers",
]
