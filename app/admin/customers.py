"""Blueprint "admin_customers": search customers, a customer's profile and ledger, adjust points, GDPR export,
and the shop's ledger as CSV.

Every customer is looked up by (g.shop, Shopify customer id): another shop's customer is a 404 here, never a leak.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from flask import Response, abort, g, jsonify, make_response, render_template, request, stream_with_context, url_for
from sqlalchemy import select

from app.admin.audit import record_change, staff_actor
from app.admin.forms import field_of, optional_int, optional_whole, whole_number
from app.admin.shell import admin_blueprint, form_key, go_to, new_form_key, with_toast
from app.extensions import db
from app.loyalty import ledger, reports, rewards
from app.loyalty.base.errors import InsufficientPoints, InvalidInput
from app.loyalty.gdpr import export_customer
from app.loyalty.ledger.csv_io import iter_ledger_csv
from app.loyalty.referrals import link_for
from app.loyalty.tiers import (
    clear_tier_override,
    held_override,
    ladder,
    override_last_day,
    review_day,
    set_tier_by_hand,
    tier_of,
    tier_status,
)
from app.models import CustomerLoyaltyProfile, RedemptionLog
from app.models.base import MAX_BIGINT
from app.shopify.admin_auth import admin_required

bp = admin_blueprint("admin_customers", __name__, "/admin/customers")


@bp.get("/")
@admin_required
def index() -> str:
    """The customer list; the search box asks for `_customer_rows.html` only."""
    query = request.args.get("q", "")[:200]
    page = reports.search_customers(db.session, shop_id=g.shop.id, query=query, after=optional_int("after"))
    template = "admin/customers/_results.html" if _wants_fragment() else "admin/customers/index.html"
    return render_template(template, title="Customers", page=page, query=query)


@bp.get("/<customer_id>")
@admin_required
def show(customer_id: str) -> str:
    profile = _profile_or_404(customer_id)
    page = render_template("admin/customers/show.html", title=_name(profile), **_profile_context(profile))
    db.session.commit()  # the customer's referral link is made on first view
    return page


@bp.get("/<customer_id>/ledger")
@admin_required
def ledger_page(customer_id: str) -> str:
    profile = _profile_or_404(customer_id)
    page = reports.customer_ledger(db.session, shop_id=g.shop.id, profile_id=profile.id, after=optional_int("after"))
    return render_template("admin/customers/_ledger.html", profile=profile, ledger=page)


@bp.post("/<customer_id>/adjustments")
@admin_required
def adjust(customer_id: str) -> Response:
    """Add or remove points with a reason, once per form key; the profile card and ledger come back refreshed."""
    now = datetime.now(timezone.utc)
    key = form_key()
    values = {"points": request.form.get("points", ""), "reason": request.form.get("reason", "")}
    errors: dict[str, str] = {}
    points = whole_number(values["points"], "points", errors, nonzero=True)
    if not values["reason"].strip():
        errors["reason"] = "Say why: the reason is shown in the customer's ledger"
    profile = ledger.lock_existing_profile(db.session, shop_id=g.shop.id, customer_id=customer_id)
    if profile is None:
        abort(404, description=f"customer {customer_id} has no loyalty profile in this shop")
    if not errors:
        before = profile.points_balance
        try:
            result = ledger.adjust_points(
                db.session,
                shop=g.shop,
                profile=profile,
                points=points,
                reason=values["reason"],
                actor=staff_actor(),
                idempotency_key=key,
                now=now,
            )
        except InsufficientPoints as exc:
            errors["points"] = str(exc)
        except InvalidInput as exc:
            errors["reason" if "reason" in str(exc) else "points"] = str(exc)
        else:
            if not result.duplicate:
                record_change(
                    "points_adjusted",
                    ("profile", profile.id),
                    before={"balance": before},
                    after={"balance": profile.points_balance, "points": points, "reason": values["reason"].strip()},
                    now=now,
                )
            db.session.commit()
            response = make_response(
                render_template("admin/customers/_activity.html", **_profile_context(profile), oob_summary=True)
            )
            message = "Already applied" if result.duplicate else f"{points:+,} points applied"
            return with_toast(response, message)
    db.session.rollback()
    profile = _profile_or_404(customer_id)
    response = make_response(
        render_template("admin/customers/_activity.html", **_profile_context(profile, values=values, errors=errors)),
        409 if "points" in errors and "has" in errors["points"] else 422,
    )
    return response


@bp.post("/<customer_id>/tier")
@admin_required
def set_tier(customer_id: str) -> Response:
    """Set the customer's tier by hand until a day (or clear it, `clear`): audited; bad input is a 422 next to the
    field. The override is a floor: a higher earned tier still applies (app.loyalty.tiers.overrides)."""
    now = datetime.now(timezone.utc)
    profile = ledger.lock_existing_profile(db.session, shop_id=g.shop.id, customer_id=customer_id)
    if profile is None:
        abort(404, description=f"customer {customer_id} has no loyalty profile in this shop")
    before = _override(profile)
    values = {"tier_id": request.form.get("tier_id", ""), "until": request.form.get("until", "")}
    errors: dict[str, str] = {}
    if request.form.get("clear"):
        clear_tier_override(db.session, shop=g.shop, profile=profile, staff=staff_actor(), now=now)
    else:
        tier_id = _chosen_tier(values["tier_id"], errors)
        try:
            until = date.fromisoformat(values["until"])
        except ValueError:
            errors["until"] = "Enter a day as YYYY-MM-DD"
        if not errors:
            try:
                set_tier_by_hand(
                    db.session, shop=g.shop, profile=profile, tier_id=tier_id, until=until, staff=staff_actor(), now=now
                )
            except InvalidInput as exc:
                errors[field_of(str(exc), ("until",), "tier_id")] = str(exc)
    if errors:
        db.session.rollback()
        profile = _profile_or_404(customer_id)
        context = _tier_context(profile, now=now, tier_values=values, tier_errors=errors)
        return make_response(render_template("admin/customers/_tier.html", **context), 422)
    db.session.refresh(profile)
    if request.form.get("clear") and before == _NO_OVERRIDE:
        message = "No tier was set by hand"  # a Clear with nothing to clear: nothing changed, nothing to audit
    else:
        # A set is audited even when it repeats the override: who set it is part of what staff did.
        record_change("tier_set_by_hand", ("profile", profile.id), before=before, after=_override(profile), now=now)
        message = "Tier override cleared" if request.form.get("clear") else "Tier set by hand"
    db.session.commit()
    return with_toast(
        make_response(render_template("admin/customers/_tier.html", **_tier_context(profile, now=now))), message
    )


def _chosen_tier(raw: str, errors: dict[str, str]) -> int:
    """The tier select's value as an id (ASCII digits: int() also reads "٣" as 3); the domain checks it is on this
    shop's ladder. Anything else is a value the select never sends, so the message just asks for a tier."""
    tier_id = optional_whole(raw, "tier_id", {}, minimum=1, maximum=MAX_BIGINT)
    if tier_id is None:
        errors["tier_id"] = "Choose a tier"
        return 0
    return tier_id


_NO_OVERRIDE = {"tier_id": None, "until": None}


def _override(profile: CustomerLoyaltyProfile) -> dict[str, Any]:
    until = profile.manual_tier_until
    return {"tier_id": profile.manual_tier_id, "until": until.isoformat() if until else None}


@bp.post("/<customer_id>/redemptions/<int:redemption_id>/cancel")
@admin_required
def cancel_redemption(customer_id: str, redemption_id: int) -> Response:
    """Cancel the customer's unused code: its points come back, the code is deactivated in Shopify (outbox)."""
    profile = _profile_or_404(customer_id)
    status_before = db.session.execute(
        select(RedemptionLog.status).where(RedemptionLog.id == redemption_id, RedemptionLog.shop_id == g.shop.id)
    ).scalar_one_or_none()
    redemption = rewards.cancel(
        db.session,
        shop_id=g.shop.id,
        redemption_id=redemption_id,
        now=datetime.now(timezone.utc),
        actor=staff_actor(),
        customer_id=profile.customer_id,
    )
    if status_before != redemption.status:  # a second click finds it cancelled already: nothing changed
        record_change(
            "reward_cancelled",
            ("redemption", redemption.id),
            before={"status": status_before},
            after={"status": redemption.status, "points_returned": redemption.points_spent, "code": redemption.code},
        )
    db.session.commit()
    return go_to(url_for("admin_customers.show", customer_id=customer_id), f"Code {redemption.code} cancelled")


@bp.get("/<customer_id>/export.json")
@admin_required
def gdpr_export(customer_id: str) -> Response:
    """Everything the app holds about the customer, as Shopify's data requests ask the merchant to hand over."""
    _profile_or_404(customer_id)
    data = export_customer(db.session, shop_id=g.shop.id, customer_id=customer_id)
    response = jsonify(data)
    response.headers["Content-Disposition"] = f'attachment; filename="customer-{customer_id}.json"'
    return response


@bp.get("/ledger.csv")
@admin_required
def ledger_csv() -> Response:
    """The shop's whole ledger (or one customer's with ?customer_id=), streamed as CSV."""
    customer_id = request.args.get("customer_id") or None
    if customer_id is not None:
        _profile_or_404(customer_id)
    # The rows are read while the server sends them, after the view returns: stream_with_context keeps the request's
    # app context (and so db.session) until the last one, which a plain generator would outlive.
    lines = stream_with_context(iter_ledger_csv(db.session, shop_id=g.shop.id, customer_id=customer_id))
    name = f"ledger-{customer_id}.csv" if customer_id else "ledger.csv"
    return Response(lines, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _wants_fragment() -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")


def _profile_or_404(customer_id: str) -> CustomerLoyaltyProfile:
    profile = ledger.find_profile(db.session, shop_id=g.shop.id, customer_id=customer_id)
    if profile is None:
        abort(404, description=f"customer {customer_id} has no loyalty profile in this shop")
    return profile


def _profile_context(
    profile: CustomerLoyaltyProfile,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    tier_values: dict[str, str] | None = None,
    tier_errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {
        **_tier_context(profile, now=now, tier_values=tier_values, tier_errors=tier_errors),
        "referral": link_for(db.session, shop=g.shop, profile=profile, now=now),
        "ledger": reports.customer_ledger(db.session, shop_id=g.shop.id, profile_id=profile.id),
        "redemptions": reports.customer_redemptions(db.session, shop_id=g.shop.id, profile_id=profile.id),
        "values": values or {"points": "", "reason": ""},
        "errors": errors or {},
        "form_key": new_form_key(),
    }


def _tier_context(
    profile: CustomerLoyaltyProfile,
    *,
    now: datetime,
    tier_values: dict[str, str] | None = None,
    tier_errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """What the tier card (`_tier.html`) shows: the tier that applies and progress, the override while it holds with
    the earned tier the member goes back to when it ends (and that tier's review day), the form."""
    tiers = ladder(db.session, shop_id=g.shop.id)
    manual = held_override(profile, tiers, now)
    override = None
    if manual is not None:
        assert profile.manual_tier_until is not None  # held_override found one
        earned = tier_of(tiers, profile.earned_tier_id)
        review = profile.tier_review_at if earned is not None else None
        override = {
            "name": manual.name,
            "until": override_last_day(g.shop, profile.manual_tier_until).isoformat(),
            "set_by": profile.manual_tier_set_by,
            "earned": earned.name if earned is not None else None,
            "review": review_day(g.shop, review).isoformat() if review is not None else None,
        }
    return {
        "tier_options": [(str(tier.id), tier.name) for tier in tiers],
        "override": override,
        "tier_values": tier_values or {"tier_id": str(manual.id) if manual else "", "until": ""},
        "tier_errors": tier_errors or {},
        "profile": profile,
        "tier": tier_status(db.session, shop=g.shop, profile=profile, now=now),
    }


def _name(profile: CustomerLoyaltyProfile) -> str:
    full = " ".join(part for part in (profile.first_name, profile.last_name) if part)
    return full or profile.email or f"Customer {profile.customer_id}"
