"""Two refusals every admin area shares, at the edge: a NUL character in any text a request carries (PostgreSQL's
text cannot hold one), and a path id larger than a bigint (it names no row). Both were 500s from the database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import PointsTransaction, RewardDefinition
from tests.admin.conftest import Admin, add_member


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/admin/customers/?q=a%00b", None),
        ("get", "/admin/operations/audit?actor=a%00b", None),
        ("get", "/admin/customers/a%00b", None),
        ("post", "/admin/rewards/", {"name": "Ten\x00off", "points_cost": "100", "value": "10"}),
        ("post", "/admin/customers/1001/adjustments", {"points": "5", "reason": "a\x00b"}),
    ],
    ids=["search", "audit-actor", "customer-path", "reward-name", "adjustment-reason"],
)
def test_a_nul_character_is_a_400_that_says_so_and_writes_nothing(  # type: ignore[no-untyped-def]
    admin: Admin, demo_shop: Any, method: str, path: str, data: dict[str, str] | None
) -> None:
    add_member(db.session, demo_shop, "1001", email="ana@example.com", name="Ana")
    written = _counts()
    response = admin.post(path, data) if method == "post" else admin.fragment(path)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_text"
    assert "contains a NUL character, which cannot be stored" in response.get_json()["message"]
    db.session.expire_all()
    assert _counts() == written


def _counts() -> tuple[int, int]:
    return tuple(  # type: ignore[return-value]
        db.session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (PointsTransaction, RewardDefinition)
    )


@pytest.mark.parametrize(
    "path",
    [
        "/admin/operations/dead-letters/9223372036854775808",
        "/admin/operations/data-requests/99999999999999999999999.json",
        "/admin/rules/99999999999999999999999",
    ],
)
def test_a_path_id_beyond_a_bigint_is_a_404(admin: Admin, path: str) -> None:
    assert admin.fragment(path).status_code == 404
