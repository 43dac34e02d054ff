"""The tier ladder in the admin: a preview says how many members would move and changes nothing; saving writes the
ladder and its audit row, and the recalculation runs as a Huey task whose progress the page shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, CustomerLoyaltyProfile, TierDefinition
from tests.admin.conftest import Admin, add_member
from tests.worker_fixtures import run_next_task


def ladder_form(*rows: tuple[str, str], basis: str = "points_earned", period: str = "lifetime") -> dict[str, str]:
    form = {"basis": basis, "period": period}
    for index, (name, threshold) in enumerate([*rows, ("", "")]):
        form |= {
            f"tiers-{index}-name": name,
            f"tiers-{index}-threshold": threshold,
            f"tiers-{index}-retention_threshold": "",
            f"tiers-{index}-earn_multiplier": "1",
            f"tiers-{index}-benefits": "",
        }
    return form


def shown_fingerprint(admin: Admin) -> str:
    """The fingerprint of the ladder as the tiers page shows it now (what a save from that page carries)."""
    page = admin.get("/admin/tiers/").get_data(as_text=True)
    return page.split('name="fingerprint" value="')[1].split('"')[0]


def save_ladder(admin: Admin, form: dict[str, str]) -> Any:
    """Save `form` from a freshly opened tiers page."""
    return admin.post("/admin/tiers/", form | {"fingerprint": shown_fingerprint(admin)})


def tiers_of_members() -> list[str | None]:
    db.session.expire_all()
    rows = db.session.execute(
        select(TierDefinition.name)
        .select_from(CustomerLoyaltyProfile)
        .outerjoin(TierDefinition, TierDefinition.id == CustomerLoyaltyProfile.current_tier_id)
        .order_by(CustomerLoyaltyProfile.customer_id)
    )
    return [name for (name,) in rows]


def test_preview_counts_the_members_who_would_move_and_saving_recalculates_in_a_task(
    admin: Admin, demo_shop: Any, worker: Any
) -> None:
    for number, points in enumerate((50, 1500, 6000)):
        add_member(
            db.session, demo_shop, f"700{number}", email=f"m{number}@example.com", name=f"M {number}", points=points
        )
    page = admin.get("/admin/tiers/").get_data(as_text=True)
    assert 'value="Bronze"' in page and 'value="Gold"' in page  # the seeded ladder

    change = ladder_form(("Bronze", "0"), ("Silver", "100"), ("Gold", "1000"))
    preview = admin.post("/admin/tiers/preview", change)
    assert preview.status_code == 200
    assert "would move <strong>3</strong> members" in preview.get_data(as_text=True)
    assert tiers_of_members() == [None, None, None]  # the preview saved nothing
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == 0
    assert (
        db.session.execute(select(TierDefinition.threshold).where(TierDefinition.name == "Gold")).scalar_one() == 5000
    )

    saved = save_ladder(admin, change)
    assert saved.status_code == 200 and "Recalculating tiers" in saved.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in saved.get_data(as_text=True)
    assert "0 of 3 members checked" in admin.fragment("/admin/tiers/progress").get_data(as_text=True)
    audit = db.session.execute(select(AuditLog).where(AuditLog.action == "tier_ladder_changed")).scalar_one()
    assert audit.actor == "staff:1"

    assert run_next_task(worker) == "recalculate_tiers"
    assert tiers_of_members() == ["Bronze", "Gold", "Gold"]
    done = admin.fragment("/admin/tiers/progress").get_data(as_text=True)
    assert "Tiers recalculated" in done and "every 1s" not in done


def test_a_bad_ladder_is_refused_with_the_error_next_to_the_field(admin: Admin, demo_shop: Any) -> None:
    cases = [
        (ladder_form(("Bronze", "0"), ("Silver", "lots")), "tiers-1-threshold", "“lots” is not a number"),
        (ladder_form(("Bronze", "100"), ("Silver", "50")), "form", "must need more than"),
        (ladder_form(("Bronze", "0"), ("bronze", "50")), "form", "tier names must be unique"),
        (ladder_form(("Bronze", "0"), basis="vibes"), "basis", "basis must be one of"),
    ]
    for form, field, message in cases:
        response = save_ladder(admin, form)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, (field, html)
        assert message in html
        if field != "form":
            assert f'id="field-{field}Error"' in html
        preview = admin.post("/admin/tiers/preview", form)
        assert preview.status_code == 422 and message in preview.get_data(as_text=True)
    assert_demo_ladder_unchanged()


def assert_demo_ladder_unchanged() -> None:
    """The demo shop's ladder as seeded: what a refused change must leave."""
    db.session.expire_all()
    thresholds = db.session.execute(
        select(TierDefinition.name, TierDefinition.threshold).order_by(TierDefinition.level)
    )
    assert [(name, int(threshold)) for name, threshold in thresholds] == [
        ("Bronze", 0),
        ("Silver", 1000),
        ("Gold", 5000),
    ]


def test_a_save_from_a_page_opened_before_another_save_is_refused(admin: Admin, demo_shop: Any) -> None:
    """Two admins open the tiers page; the first saves a new Platinum tier. The second's save, from a page that does
    not show Platinum, would delete it (a tier left out of the form is removed): it is refused instead."""
    seen = shown_fingerprint(admin)
    added = ladder_form(("Bronze", "0"), ("Silver", "1000"), ("Gold", "5000"), ("Platinum", "20000"))
    assert admin.post("/admin/tiers/", added | {"fingerprint": seen}).status_code == 200
    audits = db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one()

    stale = ladder_form(("Bronze", "0"), ("Silver", "800"), ("Gold", "5000")) | {"fingerprint": seen}
    for _ in range(2):  # the refused form keeps its fingerprint: saving it again is refused again
        response = admin.post("/admin/tiers/", stale)
        html = response.get_data(as_text=True)
        assert response.status_code == 409, html
        assert "Someone changed the tier ladder since you opened this page" in html
        assert f'name="fingerprint" value="{seen}"' in html
        assert 'value="800"' in html  # what they typed is kept, to copy over after reloading
        stale = stale | {"fingerprint": html.split('name="fingerprint" value="')[1].split('"')[0]}
    db.session.expire_all()
    ladder = db.session.execute(select(TierDefinition.name, TierDefinition.threshold).order_by(TierDefinition.level))
    assert [(name, int(threshold)) for name, threshold in ladder] == [
        ("Bronze", 0),
        ("Silver", 1000),
        ("Gold", 5000),
        ("Platinum", 20000),
    ]
    assert db.session.execute(select(func.count()).select_from(AuditLog)).scalar_one() == audits

    assert save_ladder(admin, stale).status_code == 200  # from a reloaded page, the change saves
    db.session.expire_all()
    assert (
        db.session.execute(select(TierDefinition.threshold).where(TierDefinition.name == "Silver")).scalar_one() == 800
    )
