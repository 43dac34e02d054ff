"""Blueprint "admin_rewards": the shop's rewards, created and edited through app.loyalty.rewards, with a preview of
how shoppers see each one. A save that finds the reward changed since the form was opened is refused (409)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Response, g, make_response, render_template, request, url_for

from app.admin.audit import record_change
from app.admin.forms import MAX_POINTS, field_of, fingerprint, largest, optional_decimal, optional_whole
from app.admin.shell import admin_blueprint, go_to
from app.extensions import db
from app.loyalty import rewards
from app.loyalty.base.errors import InvalidInput
from app.loyalty.rewards.definitions import MAX_CODE_EXPIRY_DAYS
from app.models import RewardDefinition
from app.models.rewards import REWARD_KINDS
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin_rewards", __name__, "/admin/rewards")

KIND_LABELS = {
    "fixed_amount": "Amount off",
    "percentage": "Percentage off",
    "free_shipping": "Free shipping",
    "free_product": "Free product",
    "points_to_amount": "Points to amount (in steps)",
}
FIELDS = (
    "name",
    "kind",
    "points_cost",
    "value",
    "max_steps",
    "variant_id",
    "min_order_amount",
    "per_customer_limit",
    "code_expiry_days",
    "min_tier_level",
)
# Each whole-number field's smallest and largest value: what the service accepts, within what its column stores.
WHOLE_RANGES = {
    # At most MAX_POINTS, so a redemption's points (cost times up to max_steps steps) always fit a bigint.
    "points_cost": (1, MAX_POINTS),
    "max_steps": (1, largest(RewardDefinition.max_steps)),
    "per_customer_limit": (1, largest(RewardDefinition.per_customer_limit)),
    "code_expiry_days": (1, MAX_CODE_EXPIRY_DAYS),
    "min_tier_level": (0, largest(RewardDefinition.min_tier_level)),
}
# Amounts: whether a kind needs one, and a percentage's 100, are the service's to check.
MONEY_FIELDS = {"value": RewardDefinition.value, "min_order_amount": RewardDefinition.min_order_amount}


@bp.get("/")
@admin_required
def index() -> str:
    listed = rewards.list_rewards(db.session, shop_id=g.shop.id, active_only=False)
    return render_template("admin/rewards/index.html", title="Rewards", rewards=listed, kinds=KIND_LABELS)


@bp.get("/new")
@admin_required
def new() -> str:
    values = {"kind": "fixed_amount", "active": "1"}
    return _form_page(None, values, {})


@bp.get("/<int:reward_id>")
@admin_required
def edit(reward_id: int) -> str:
    reward = rewards.get_reward(db.session, shop_id=g.shop.id, reward_id=reward_id)
    return _form_page(reward, _values_of(reward), {})


@bp.post("/")
@admin_required
def create() -> Response:
    values = _submitted()
    errors: dict[str, str] = {}
    spec = _spec(values, errors)
    if spec is not None:
        try:
            reward = rewards.create_reward(db.session, shop_id=g.shop.id, spec=spec)
        except InvalidInput as exc:
            errors[field_of(str(exc), FIELDS, "name")] = str(exc)
        else:
            record_change("reward_created", ("reward", reward.id), after=_values_of(reward))
            db.session.commit()
            return go_to(url_for("admin_rewards.index"), f"Reward “{reward.name}” created")
    db.session.rollback()
    return make_response(_form_page(None, values, errors, fragment=True), 422)


@bp.post("/<int:reward_id>")
@admin_required
def update(reward_id: int) -> Response:
    values = _submitted()
    errors: dict[str, str] = {}
    reward = rewards.get_reward(db.session, shop_id=g.shop.id, reward_id=reward_id, lock=True)
    before = _values_of(reward)
    if request.form.get("fingerprint") != fingerprint(before):
        db.session.rollback()
        errors["form"] = "Someone changed this reward since you opened it: reload the page to see their change"
        # The form keeps the stale fingerprint: saving again is refused again until the page is reloaded.
        stale = _form_page(reward, values, errors, fragment=True, seen=request.form.get("fingerprint", ""))
        return make_response(stale, 409)
    spec = _spec(values, errors)
    if spec is not None:
        try:
            rewards.update_reward(db.session, shop_id=g.shop.id, reward_id=reward_id, spec=spec)
        except InvalidInput as exc:
            errors[field_of(str(exc), FIELDS, "name")] = str(exc)
        else:
            record_change("reward_updated", ("reward", reward.id), before=before, after=_values_of(reward))
            db.session.commit()
            return go_to(url_for("admin_rewards.index"), f"Reward “{reward.name}” saved")
    db.session.rollback()
    reward = rewards.get_reward(db.session, shop_id=g.shop.id, reward_id=reward_id)
    return make_response(_form_page(reward, values, errors, fragment=True), 422)


@bp.post("/preview")
@admin_required
def preview() -> str:
    """How the reward as typed so far reads to shoppers (nothing is saved)."""
    values = _submitted()
    return render_template("admin/rewards/_preview.html", values=values, currency=g.shop.currency, kinds=KIND_LABELS)


def _submitted() -> dict[str, str]:
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    values["active"] = "1" if request.form.get("active") else ""
    return values


def _spec(values: dict[str, str], errors: dict[str, str]) -> rewards.RewardSpec | None:
    """The form as a RewardSpec; numbers are parsed and bounded here, the rest is the service's to check."""
    if values["kind"] not in REWARD_KINDS:
        errors["kind"] = f"Choose one of: {', '.join(KIND_LABELS.values())}"
    numbers = {
        name: optional_whole(values[name], name, errors, minimum=low, maximum=high, required=name == "points_cost")
        for name, (low, high) in WHOLE_RANGES.items()
    }
    amounts = {
        name: optional_decimal(values[name], name, errors, column=column, minimum=Decimal(0))
        for name, column in MONEY_FIELDS.items()
    }
    if errors:
        return None
    return rewards.RewardSpec(
        name=values["name"],
        kind=values["kind"],
        points_cost=numbers["points_cost"],  # type: ignore[arg-type]
        value=amounts["value"],
        max_steps=numbers["max_steps"],
        variant_id=values["variant_id"] or None,
        min_order_amount=amounts["min_order_amount"],
        per_customer_limit=numbers["per_customer_limit"],
        code_expiry_days=numbers["code_expiry_days"],
        min_tier_level=numbers["min_tier_level"],
        active=bool(values["active"]),
    )


def _values_of(reward: RewardDefinition) -> dict[str, Any]:
    """The reward as the form shows it (strings, blanks for None)."""
    values = {name: "" if getattr(reward, name) is None else str(getattr(reward, name)) for name in FIELDS}
    values["active"] = "1" if reward.active else ""
    return values


def _form_page(
    reward: RewardDefinition | None,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    fragment: bool = False,
    seen: str | None = None,
) -> str:
    template = "admin/rewards/_form.html" if fragment else "admin/rewards/form.html"
    return render_template(
        template,
        title=f"Edit {reward.name}" if reward else "New reward",
        reward=reward,
        values=values,
        errors=errors,
        fingerprint=seen if seen is not None else fingerprint(_values_of(reward)) if reward else "",
        kinds=KIND_LABELS,
        currency=g.shop.currency,
    )
