"""Every admin page in Chromium, with its main task done the way a merchant does it, a full-page screenshot each,
and axe-core finding no serious or critical violation on any of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.events.relay import Relay
from app.events.stream import StreamKeys
from app.extensions import db
from app.loyalty import rewards
from app.models import AuditLog, DeadLetter, EventQueue
from tests.admin.browser.conftest import open_admin, screenshot, serious_violations
from tests.admin.conftest import add_dead_letter, add_member
from tests.events.stream_helpers import stream_entries
from tests.worker_fixtures import run_next_task


def seed(shop: Any) -> None:
    for number, (name, points) in enumerate((("Ada Lovelace", 1200), ("Alan Turing", 300), ("Grace Hopper", 5400))):
        first = name.split()[0].lower()
        add_member(
            db.session, shop, f"700000000000000000{number}", email=f"{first}@example.com", name=name, points=points
        )
    rewards.create_reward(
        db.session,
        shop_id=shop.id,
        spec=rewards.RewardSpec(name="$5 off", kind="fixed_amount", points_cost=500, value="5"),
    )
    db.session.add(
        AuditLog(
            shop_id=shop.id,
            actor="staff:1",
            action="reward_created",
            subject_type="reward",
            subject_id="1",
            details={"before": None, "after": {"name": "$5 off", "points_cost": "500"}},
        )
    )
    db.session.commit()
    add_dead_letter(db.session, shop, error="reward 12 does not exist")


def test_every_page_through_the_navigation(page: Any, demo_shop: Any) -> None:
    seed(demo_shop)
    open_admin(page)
    pages = [
        ("Dashboard", "Dashboard", "dashboard"),
        ("Customers", "Customers", "customers"),
        ("Rewards", "Rewards", "rewards"),
        ("Tiers", "Tiers", "tiers"),
        ("Referrals", "Referrals", "referrals"),
        ("Settings", "Settings", "settings"),
        ("Webhooks", "Webhooks", "webhooks"),
        ("Operations", "Operations", "operations-dead-letters"),
    ]
    for link, heading, shot in pages:
        page.get_by_role("navigation", name="Loyalty").get_by_role("link", name=link).click()
        page.wait_for_selector(f"h1:has-text('{heading}')")
        assert page.get_by_role("link", name=link).first.get_attribute("aria-current") == "page"
        screenshot(page, shot)
        assert serious_violations(page) == [], shot
    for tab, shot in (
        ("Events", "operations-events"),
        ("Data requests", "operations-data-requests"),
        ("Audit log", "operations-audit"),
    ):
        page.get_by_role("navigation", name="Operations").get_by_role("link", name=tab).click()
        page.wait_for_selector(f"a[aria-current='page']:has-text('{tab}')")
        screenshot(page, shot)
        assert serious_violations(page) == [], shot
    page.goto("/admin/customers/import/")
    page.wait_for_selector("h1:has-text('Import balances')")
    screenshot(page, "import")
    assert serious_violations(page) == []


def test_the_keyboard_reaches_the_skip_link_and_the_navigation(page: Any, demo_shop: Any) -> None:
    open_admin(page, "/admin/rewards/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Shift+Tab")  # back from the page into the navigation, at its last entry
    assert page.evaluate("document.activeElement.textContent.trim()") == "Operations"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible


def test_create_a_reward_with_its_preview(page: Any, demo_shop: Any) -> None:
    open_admin(page, "/admin/rewards/")
    page.get_by_role("link", name="Create reward").first.click()
    page.wait_for_selector("h1:has-text('New reward')")
    page.get_by_label("Name").fill("Free tote")
    page.get_by_label("Kind").select_option("free_product")
    page.get_by_label("Points cost").fill("800")
    page.get_by_label("Points cost").press("Tab")
    page.wait_for_selector(".loyalty-RewardPreview:has-text('A free product with your order')")
    page.get_by_role("button", name="Save reward").click()
    page.wait_for_selector("text=needs the numeric Shopify variant id")  # the error next to its field
    page.get_by_label("Product variant id").fill("808950810")
    screenshot(page, "reward-form")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Save reward").click()
    page.wait_for_selector("h1:has-text('Rewards')")
    page.wait_for_selector("text=Reward “Free tote” created")
    assert page.get_by_role("link", name="Free tote").is_visible()


def test_change_the_ladder_and_watch_the_recalculation(page: Any, demo_shop: Any, worker: Any) -> None:
    seed(demo_shop)
    open_admin(page, "/admin/tiers/")
    page.get_by_label("Threshold").nth(2).fill("5000")  # Gold stays
    page.get_by_label("Threshold").nth(1).fill("250")  # Silver from 1000 to 250
    page.get_by_role("button", name="Preview the change").click()
    page.wait_for_selector("text=Saving this ladder would move")
    assert "3" in page.locator("#tier-preview strong").inner_text()
    page.get_by_role("button", name="Save ladder").click()
    page.wait_for_selector("text=Recalculating tiers")
    screenshot(page, "tiers-recalculating")
    assert run_next_task(worker) == "recalculate_tiers"
    page.wait_for_selector("text=Tiers recalculated")
    screenshot(page, "tiers-recalculated")


def test_import_a_csv_with_a_bad_line_then_a_good_one(page: Any, demo_shop: Any, tmp_path: Any) -> None:
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text("customer_id,points\n7001,100\n7002,lots\n")
    good.write_text("customer_id,points,note\n7001,100,Opening\n7002,40,Opening\n")
    open_admin(page, "/admin/customers/import/")
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Preview import").click()
    page.wait_for_selector("text=Line 3: points must be a whole number")
    screenshot(page, "import-bad-line")
    page.get_by_label("CSV file").set_input_files(str(good))
    page.get_by_role("button", name="Preview import").click()
    page.get_by_role("button", name="Import 2 balances").click()
    page.wait_for_selector("text=Balances imported")
    page.wait_for_selector("#import-batches td:has-text('good.csv')")
    page.get_by_role("button", name="Undo").click()
    # The confirmation is a modal dialog: the keyboard is in it, and Escape leaves without undoing anything.
    assert page.evaluate("document.activeElement.closest('dialog[open]') !== null")
    page.keyboard.press("Escape")
    assert page.get_by_role("dialog").count() == 0
    assert page.locator("#import-batches .Polaris-Badge:has-text('Undone')").count() == 0
    page.get_by_role("button", name="Undo").click()
    page.get_by_role("dialog").get_by_role("button", name="Undo import").click()
    page.wait_for_selector("#import-batches .Polaris-Badge:has-text('Undone')")


def test_replay_a_dead_letter(page: Any, demo_shop: Any, redis_client: Any, redis_namespace: str) -> None:
    letter = add_dead_letter(db.session, demo_shop, error="reward 12 does not exist")
    open_admin(page, "/admin/operations/")
    page.get_by_role("link", name=f"#{letter.id}").click()
    page.wait_for_selector("text=ValueError: reward 12 does not exist")
    screenshot(page, "dead-letter")
    page.go_back()
    page.wait_for_selector(f"text=#{letter.id}")
    page.get_by_role("button", name="Replay all").click()
    page.wait_for_selector("text=is queued again: the relay streams its event")
    screenshot(page, "dead-letters-replay-all")
    page.keyboard.press("Escape")  # leaves without replaying anything
    assert page.get_by_role("dialog").count() == 0
    db.session.expire_all()
    assert db.session.get(DeadLetter, letter.id).replayed_at is None
    page.get_by_role("button", name=f"Replay dead letter {letter.id}").click()
    page.wait_for_selector("text=1 event queued again: the relay streams it next")
    page.wait_for_selector("text=No dead letters")
    screenshot(page, "dead-letter-replayed")
    db.session.expire_all()
    assert db.session.get(DeadLetter, letter.id).replayed_at is not None
    event = db.session.execute(select(EventQueue).where(EventQueue.event_id == letter.event_id)).scalar_one()
    assert (event.status, event.published_at) == ("pending", None)  # handed back to the relay
    keys = StreamKeys.for_namespace(redis_namespace)
    assert Relay(db.engine, redis_client, keys).turn() == 1
    assert [fields["event_id"] for _, fields in stream_entries(redis_client, keys)] == [str(letter.event_id)]


def test_a_refused_session_token_gets_a_new_one_and_one_retry(page: Any, demo_shop: Any) -> None:
    open_admin(page)
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status) if response.url.endswith("/") else None)
    # The next token App Bridge hands out is forged (signed with another secret); the one after is good.
    page.evaluate(
        """() => {
          const real = window.shopify.idToken;
          let first = true;
          window.shopify.idToken = () => {
            if (first) { first = false; return Promise.resolve('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged'); }
            return real();
          };
        }"""
    )
    page.get_by_role("button", name="Check the connection again").click()
    page.wait_for_function("document.querySelector('#connection').innerText.includes('Signed in as staff user 1')")
    page.wait_for_timeout(300)
    assert statuses == [401, 200]
