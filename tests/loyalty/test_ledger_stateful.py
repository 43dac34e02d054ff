"""Stateful property test of the ledger against real PostgreSQL (reliability.md 1.4 item 2, goal R-7).

Hypothesis drives random sequences of earn (posted or held), duplicate earn, pending release, redeem, partial and full
refunds (new and repeated), cancellation, expiry, adjustments, CSV imports (new and repeated) and import reversal,
with the clock moving forward. An in-memory model (`Model`) predicts every balance, pending total, order claim and
lot independently of the services; after every step, committed, the invariants are checked against the database:

- L1: stored balance == sum of entries == the model's balance; stored pending == the model's;
- L4/L9: balance >= 0 unless the shop allows negatives;
- lots: remaining sums to max(balance, 0), and each lot matches the model's lot;
- L3: no idempotency key credited twice (a key is one ledger entry, or one pending credit that released into it);
- L8: reversals and expiry of an entry never exceed it together; each order's claims plus what its lots lost to
  expiry equal floor(earned * refunded share) (all when cancelled or fully refunded), what expired never being
  claimed again;
- L10: each lot expires at most once and only its remainder (checked through the lot model and expiry entries).
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text

from app.loyalty import ledger
from app.loyalty.base.errors import InsufficientPoints
from app.loyalty.ledger.adjustments import adjust_points
from app.loyalty.ledger.profiles import lock_profile
from app.models import (
    CustomerLoyaltyProfile,
    Order,
    PendingCredit,
    PointsLot,
    PointsTransaction,
    Shop,
)
from tests.loyalty import ledger_helpers

CUSTOMERS = ("101", "102")
EXPIRY_DAYS = 30
WINDOW_DAYS = 7
START = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
RUNS: Counter[str] = Counter()


@dataclass
class Lot:
    points: int
    remaining: int
    expires_at: datetime | None
    order: str | None = None
    batch: int | None = None
    reversed: int = 0
    expired: bool = False
    # What the lot had left when it expired: gone, so no reversal claims it again.
    expired_points: int = 0


@dataclass
class Pending:
    points: int
    available_at: datetime
    order: str
    cancelled: int = 0
    released: bool = False


@dataclass
class ModelOrder:
    customer: str
    subtotal: Decimal
    pending: list[Pending] = field(default_factory=list)
    lots: list[Lot] = field(default_factory=list)
    refunded: Fraction = Fraction(0)
    refund_ids: dict[str, Decimal] = field(default_factory=dict)
    cancelled: bool = False
    claimed: int = 0

    @property
    def earned(self) -> int:
        return sum(p.cancelled + (0 if p.released else p.points - p.cancelled) for p in self.pending) + sum(
            lot.points for lot in self.lots
        )


@dataclass
class Customer:
    balance: int = 0
    lots: list[Lot] = field(default_factory=list)


class Model:
    """The oracle: what the ledger should hold, computed without the services."""

    def __init__(self, allow_negative: bool, window: int, expiring: bool) -> None:
        self.allow_negative, self.window, self.expiring = allow_negative, window, expiring
        self.customers = {c: Customer() for c in CUSTOMERS}
        self.orders: dict[str, ModelOrder] = {}
        self.keys: dict[str, int] = {}  # every credit key issued, with the points it asked for

    def pending_total(self, customer: str) -> int:
        return sum(
            p.points - p.cancelled
            for o in self.orders.values()
            if o.customer == customer
            for p in o.pending
            if not p.released and p.cancelled < p.points
        )

    def add_lot(
        self,
        customer: str,
        points: int,
        now: datetime,
        *,
        credited_at: datetime | None = None,
        order: str | None = None,
        batch: int | None = None,
    ) -> Lot:
        state = self.customers[customer]
        repaid = min(points, max(0, -state.balance))
        expires = (credited_at or now) + timedelta(days=EXPIRY_DAYS) if self.expiring else None
        lot = Lot(points=points, remaining=points - repaid, expires_at=expires, order=order, batch=batch)
        state.lots.append(lot)
        state.balance += points
        if order is not None:
            self.orders[order].lots.append(lot)
        return lot

    def consume(self, customer: str, points: int, prefer: Lot | None = None) -> None:
        state = self.customers[customer]
        covered = min(points, max(0, state.balance))
        state.balance -= points
        for lot in ([prefer] if prefer else []) + [x for x in state.lots if x is not prefer]:
            take = min(covered, lot.remaining)
            lot.remaining -= take
            covered -= take

    def take_back(self, customer: str, items_pending: list[Pending], items_lots: list[Lot], claim: int) -> None:
        left = claim
        for item in items_pending:
            if item.released or item.cancelled == item.points:
                continue
            cancel = min(left, item.points - item.cancelled)
            item.cancelled += cancel
            left -= cancel
        for lot in items_lots:
            want = min(left, lot.points - lot.reversed - lot.expired_points)
            if want == 0:
                continue
            take = want if self.allow_negative else min(want, max(0, self.customers[customer].balance))
            lot.reversed += want
            if take:
                self.consume(customer, take, prefer=lot)
            left -= want
        assert left == 0

    def claim_order(self, order_id: str) -> None:
        order = self.orders[order_id]
        share = Fraction(1) if order.cancelled else min(order.refunded, Fraction(1))
        due = order.earned if share >= 1 else math.floor(order.earned * share)
        claim = max(0, due - order.claimed - sum(lot.expired_points for lot in order.lots))
        order.claimed += claim
        self.take_back(order.customer, order.pending, order.lots, claim)


@pytest.mark.parametrize("seed_policy", ["cap", "allow"])
def test_ledger_state_machine(session_factory, empty_tables, seed_policy: str) -> None:
    factory = session_factory

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            empty_tables()  # each example starts from an empty database, as each test does
            self.session = factory()
            self.now = START
            self.steps = 0
            RUNS["examples"] += 1

        @initialize(window=st.sampled_from([0, WINDOW_DAYS]), expiring=st.booleans())
        def setup(self, window: int, expiring: bool) -> None:
            allow = seed_policy == "allow"
            shop = Shop(
                domain="stateful.myshopify.com",
                return_window_days=window,
                negative_balance_policy=seed_policy,
                points_expiry_policy="after_earning" if expiring else "never",
                points_expiry_days=EXPIRY_DAYS if expiring else None,
            )
            self.session.add(shop)
            self.session.flush()
            self.shop = shop
            self.profiles = {
                c: lock_profile(self.session, shop_id=shop.id, customer_id=c, now=self.now).id for c in CUSTOMERS
            }
            self.session.commit()
            self.model = Model(allow_negative=allow, window=window, expiring=expiring)
            self.imports: list[tuple[str, uuid.UUID | None]] = []

        def teardown(self) -> None:
            self.session.rollback()
            self.session.close()

        def _lock(self, customer: str) -> CustomerLoyaltyProfile:
            return lock_profile(self.session, shop_id=self.shop.id, customer_id=customer, now=self.now)

        def _done(self) -> None:
            self.session.commit()
            self.steps += 1
            RUNS["steps"] += 1

        @rule(days=st.integers(1, 20))
        def advance_clock(self, days: int) -> None:
            self.now += timedelta(days=days)
            RUNS["advance_clock"] += 1

        @rule(
            customer=st.sampled_from(CUSTOMERS),
            points=st.integers(1, 500),
            actions=st.integers(1, 2),
            subtotal=st.decimals(Decimal("0.01"), Decimal("500.00"), places=2),
            hold=st.booleans(),
        )
        def earn(self, customer: str, points: int, actions: int, subtotal: Decimal, hold: bool) -> None:
            order_id = str(5000 + len(self.model.orders))
            profile = self._lock(customer)
            ledger_helpers.add_order(self.session, self.shop, profile, order_id, str(subtotal), self.now)
            self.model.orders[order_id] = ModelOrder(customer=customer, subtotal=subtotal)
            for action in range(actions):
                amount = points if action == 0 else points // 3 + 1
                key = f"rule:{action}:a0:order:{order_id}"
                result = ledger_helpers.earn(
                    self.session, self.shop, profile, amount, key, self.now, order_id=order_id, hold=hold
                )
                assert not result.duplicate
                self.model.keys[key] = amount
                if hold and self.model.window:
                    assert result.pending is not None and result.entry is None
                    self.model.orders[order_id].pending.append(
                        Pending(
                            points=amount, available_at=self.now + timedelta(days=self.model.window), order=order_id
                        )
                    )
                else:
                    assert result.entry is not None and result.pending is None
                    self.model.add_lot(customer, amount, self.now, order=order_id)
            RUNS["earn"] += 1
            self._done()

        @precondition(lambda self: self.model.keys)
        @rule(pick=st.integers(0, 10_000), hold=st.booleans())
        def earn_again(self, pick: int, hold: bool) -> None:
            """A re-delivery, replay or backfill of an already credited order action: nothing changes."""
            key = sorted(self.model.keys)[pick % len(self.model.keys)]
            order_id = key.rsplit(":", 1)[1]
            profile = self._lock(self.model.orders[order_id].customer)
            points = self.model.keys[key]
            result = ledger_helpers.earn(
                self.session, self.shop, profile, points, key, self.now, order_id=order_id, hold=hold
            )
            assert result == ledger.CreditResult(entry=None, pending=None, duplicate=True)
            RUNS["earn_again"] += 1
            self._done()

        @rule(which=st.sampled_from(["release", "expire"]))
        def sweep(self, which: str) -> None:
            """The two Huey sweeps, each over everything due as of now."""
            if which == "expire":
                self._expire()
            else:
                self._release()
            self._done()

        def _release(self) -> None:
            released = ledger.release_due(self.session, shop_id=self.shop.id, now=self.now)
            expected = 0
            for order_id, order in self.model.orders.items():
                for item in order.pending:
                    if item.released or item.cancelled == item.points or item.available_at > self.now:
                        continue
                    item.released = True
                    expected += 1
                    self.model.add_lot(
                        order.customer,
                        item.points - item.cancelled,
                        self.now,
                        credited_at=item.available_at,
                        order=order_id,
                    )
            assert released == expected
            RUNS["release"] += 1

        def _expire(self) -> None:
            expired = ledger.expire_due(self.session, shop_id=self.shop.id, now=self.now)
            expected = 0
            for customer, state in self.model.customers.items():
                for lot in state.lots:
                    if lot.expired or lot.expires_at is None or lot.expires_at > self.now:
                        continue
                    lot.expired = True
                    lot.expired_points = lot.remaining
                    if lot.remaining:
                        expected += 1
                        self.model.consume(customer, lot.remaining, prefer=lot)
            assert expired == expected
            RUNS["expire"] += 1

        @rule(customer=st.sampled_from(CUSTOMERS), share=st.integers(1, 110))
        def redeem(self, customer: str, share: int) -> None:
            profile = self._lock(customer)
            before = self.model.customers[customer].balance
            points = max(1, before * share // 100)  # mostly affordable; above 100 % it must be refused
            key = f"redemption:{uuid.uuid4()}"
            if before >= points:
                result = ledger_helpers.spend(self.session, self.shop, profile, points, key, self.now)
                assert result.entry is not None and result.entry.points == -points
                self.model.consume(customer, points)
                RUNS["redeem"] += 1
            else:
                with pytest.raises(InsufficientPoints):
                    ledger_helpers.spend(self.session, self.shop, profile, points, key, self.now)
                RUNS["redeem_refused"] += 1
            self._done()

        @precondition(lambda self: self.model.orders)
        @rule(pick=st.integers(0, 10_000), share=st.integers(1, 120), repeat=st.booleans())
        def refund(self, pick: int, share: int, repeat: bool) -> None:
            order_id = sorted(self.model.orders)[pick % len(self.model.orders)]
            order = self.model.orders[order_id]
            if repeat and order.refund_ids:
                refund_id = sorted(order.refund_ids)[pick % len(order.refund_ids)]
                amount = order.refund_ids[refund_id]
            else:
                refund_id = f"{order_id}-r{len(order.refund_ids)}"
                amount = (order.subtotal * share / 100).quantize(Decimal("0.01"))
            profile = self._lock(order.customer)
            result = ledger_helpers.refund(self.session, self.shop, profile, order_id, refund_id, str(amount), self.now)
            if refund_id in order.refund_ids:
                assert result.duplicate
                RUNS["refund_repeated"] += 1
            else:
                assert not result.duplicate
                order.refund_ids[refund_id] = amount
                order.refunded += Fraction(amount) / Fraction(order.subtotal)
                claimed_before = order.claimed
                self.model.claim_order(order_id)
                assert result.points_claimed == order.claimed - claimed_before
                RUNS["refund_full" if order.refunded >= 1 else "refund_partial"] += 1
            self._done()

        @precondition(lambda self: self.model.orders)
        @rule(pick=st.integers(0, 10_000))
        def cancel(self, pick: int) -> None:
            order_id = sorted(self.model.orders)[pick % len(self.model.orders)]
            order = self.model.orders[order_id]
            profile = self._lock(order.customer)
            result = ledger.apply_cancellation(
                self.session, shop=self.shop, profile=profile, order_id=order_id, event_id=uuid.uuid4(), now=self.now
            )
            assert result.duplicate == order.cancelled
            if not order.cancelled:
                order.cancelled = True
                self.model.claim_order(order_id)
            RUNS["cancel"] += 1
            self._done()

        @rule(customer=st.sampled_from(CUSTOMERS), points=st.integers(-300, 300).filter(bool))
        def adjust(self, customer: str, points: int) -> None:
            profile = self._lock(customer)
            args = {
                "shop": self.shop,
                "profile": profile,
                "points": points,
                "reason": "stateful",
                "actor": "admin@test",
                "idempotency_key": str(uuid.uuid4()),
                "now": self.now,
            }
            if points < 0 and self.model.customers[customer].balance < -points:
                with pytest.raises(InsufficientPoints):
                    adjust_points(self.session, **args)
                RUNS["adjust_refused"] += 1
            else:
                assert adjust_points(self.session, **args).entry is not None
                if points > 0:
                    self.model.add_lot(customer, points, self.now)
                else:
                    self.model.consume(customer, -points)
                RUNS["adjust"] += 1
            self._done()

        @rule(first=st.integers(1, 400), second=st.integers(0, 400), again=st.booleans())
        def import_csv(self, first: int, second: int, again: bool) -> None:
            if again and self.imports:
                csv_text, batch_id = self.imports[-1]
                if batch_id is None:
                    return
                result = ledger.import_opening_balances(
                    self.session, shop=self.shop, csv_text=csv_text, actor="admin@test", now=self.now
                )
                assert result.duplicate and result.batch_id == batch_id
                RUNS["import_repeated"] += 1
            else:
                rows = [(CUSTOMERS[0], first)] + ([(CUSTOMERS[1], second)] if second else [])
                csv_text = "customer_id,points,note\n" + "".join(
                    f"{c},{p},batch {len(self.imports)}\n" for c, p in rows
                )
                result = ledger.import_opening_balances(
                    self.session, shop=self.shop, csv_text=csv_text, actor="admin@test", now=self.now
                )
                assert not result.duplicate
                self.imports.append((csv_text, result.batch_id))
                for customer, points in rows:
                    self.model.add_lot(customer, points, self.now, batch=len(self.imports) - 1)
                RUNS["import"] += 1
            self._done()

        @precondition(lambda self: any(batch for _, batch in self.imports))
        @rule(pick=st.integers(0, 100))
        def reverse_import(self, pick: int) -> None:
            live = [i for i, (_, batch) in enumerate(self.imports) if batch is not None]
            index = live[pick % len(live)]
            csv_text, batch_id = self.imports[index]
            assert batch_id is not None
            result = ledger.reverse_import(
                self.session, shop=self.shop, batch_id=batch_id, actor="admin@test", now=self.now
            )
            assert not result.duplicate
            self.imports[index] = (csv_text, None)
            for customer, state in self.model.customers.items():
                lots = [lot for lot in state.lots if lot.batch == index]
                self.model.take_back(
                    customer, [], lots, sum(lot.points - lot.reversed - lot.expired_points for lot in lots)
                )
            RUNS["reverse_import"] += 1
            self._done()

        @invariant()
        def ledger_matches_model(self) -> None:
            if not hasattr(self, "model"):
                return
            session = self.session
            for customer, profile_id in self.profiles.items():
                state = self.model.customers[customer]
                row = session.execute(
                    select(CustomerLoyaltyProfile.points_balance, CustomerLoyaltyProfile.points_pending).where(
                        CustomerLoyaltyProfile.id == profile_id
                    )
                ).one()
                entry_sum = ledger.ledger_balance(session, profile_id=profile_id)
                # L1: stored balance = sum of entries = the model's balance; pending as the model says.
                assert row.points_balance == entry_sum == state.balance, customer
                assert row.points_pending == self.model.pending_total(customer), customer
                # L4 / L9: below zero only where the shop allows it.
                assert self.model.allow_negative or row.points_balance >= 0
                lots = session.execute(
                    select(
                        PointsLot.points,
                        PointsLot.remaining,
                        PointsLot.reversed_points,
                        PointsLot.expires_at,
                        PointsLot.expired_at.is_not(None),
                    )
                    .where(PointsLot.profile_id == profile_id)
                    .order_by(PointsLot.id)
                ).all()
                # Lots sum to the positive part of the balance, lot by lot as the model says (L10 included).
                assert sum(lot.remaining for lot in lots) == max(row.points_balance, 0)
                assert [tuple(lot) for lot in lots] == [
                    (m.points, m.remaining, m.reversed, m.expires_at, m.expired) for m in state.lots
                ]
            # L3: a key is one ledger entry, or one pending credit (that may have released into that entry).
            ledger_keys = Counter(session.execute(select(PointsTransaction.idempotency_key)).scalars())
            pending_keys = Counter(session.execute(select(PendingCredit.idempotency_key)).scalars())
            assert max(ledger_keys.values(), default=1) == 1 and max(pending_keys.values(), default=1) == 1
            for key, asked in self.model.keys.items():
                credited = session.execute(
                    select(func.coalesce(func.sum(PointsTransaction.points), 0)).where(
                        PointsTransaction.idempotency_key == key
                    )
                ).scalar_one()
                assert 0 <= credited <= asked
            # L8: reversals and expiry of an entry never exceed it together.
            over = session.execute(
                text(
                    "SELECT e.id FROM points_transactions e JOIN points_transactions r ON r.reverses_id = e.id "
                    "AND r.kind IN ('reversal', 'expiry') GROUP BY e.id, e.points HAVING -SUM(r.points) > e.points"
                )
            ).all()
            assert over == []
            # L10: at most one expiry per lot, never more than the lot.
            expiries = session.execute(
                text(
                    "SELECT l.id FROM points_lots l JOIN points_transactions x ON x.idempotency_key = "
                    "'expiry:lot:' || l.id GROUP BY l.id, l.points HAVING COUNT(*) > 1 OR -SUM(x.points) > l.points"
                )
            ).all()
            assert expiries == []
            # Orders: earned and claimed back exactly as prorated by the model.
            for order_id, model_order in self.model.orders.items():
                earned, claimed = session.execute(
                    select(Order.points_earned, Order.points_reversed).where(
                        Order.shop_id == self.shop.id, Order.order_id == order_id
                    )
                ).one()
                assert (earned, claimed) == (model_order.earned, model_order.claimed), order_id

    LedgerMachine.TestCase.settings = settings(
        max_examples=30,
        stateful_step_count=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    before = RUNS["examples"]
    run_state_machine_as_test(LedgerMachine, settings=LedgerMachine.TestCase.settings)
    ran = RUNS["examples"] - before
    print(
        f"\nledger state machine ({seed_policy}): {ran} examples, {RUNS['steps']} committed steps so far; "
        f"rule counts {dict(sorted(RUNS.items()))}"
    )
    assert ran >= 30
