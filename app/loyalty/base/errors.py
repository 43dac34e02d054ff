"""Domain errors that carry their data, so messages say exactly what is wrong; app.errors maps them to HTTP."""

from __future__ import annotations


class LoyaltyError(Exception):
    """Base of every domain error. `status` is the HTTP status an adapter should answer with."""

    status = 400


class NotFound(LoyaltyError):
    status = 404


class ShopNotFound(NotFound):
    def __init__(self, shop: str | int) -> None:
        super().__init__(f"shop {shop} is not installed")
        self.shop = shop


class ProfileNotFound(NotFound):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} has no loyalty profile")
        self.customer_id = customer_id


class InvalidInput(LoyaltyError):
    """The caller sent something malformed; the message names the field or line."""

    status = 422


class Conflict(LoyaltyError):
    """The request contradicts an earlier one (e.g. an idempotency key reused with other input)."""

    status = 409


class InsufficientPoints(LoyaltyError):
    status = 409

    def __init__(self, customer_id: str, balance: int, needed: int) -> None:
        super().__init__(f"customer {customer_id} has {balance} points; this needs {needed}")
        self.customer_id = customer_id
        self.balance = balance
        self.needed = needed


class RewardNotFound(NotFound):
    """No such reward in this shop (another shop's reward is unknown here too, never a leak)."""

    def __init__(self, reward_id: object) -> None:
        super().__init__(f"reward {reward_id} does not exist")
        self.reward_id = reward_id


class RedemptionNotFound(NotFound):
    def __init__(self, redemption_id: object) -> None:
        super().__init__(f"redemption {redemption_id} does not exist")
        self.redemption_id = redemption_id


class RewardUnavailable(LoyaltyError):
    """The reward exists but this customer cannot have it now (inactive, tier, limit, steps)."""

    status = 422


class ReferralNotFound(NotFound):
    def __init__(self, code: str) -> None:
        super().__init__(f"referral code {code!r} does not exist")
        self.code = code


class InvalidCsv(InvalidInput):
    """A CSV file with bad lines; `errors` holds (line number, what is wrong) for every bad line found."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        shown = "; ".join(f"line {line}: {problem}" for line, problem in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(f"nothing imported: {shown}{more}")
        self.errors = errors


class ImportBatchNotFound(NotFound):
    def __init__(self, batch_id: object) -> None:
        super().__init__(f"import batch {batch_id} does not exist")
        self.batch_id = batch_id


def http_status(exc: Exception) -> int:
    """The HTTP status an adapter answers with for a domain error (500 for anything else)."""
    return exc.status if isinstance(exc, LoyaltyError) else 500
