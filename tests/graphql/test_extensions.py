"""The extensions send only operations the app has persisted, and the theme widget stays within its weight budget."""

from __future__ import annotations

import gzip
import hashlib
import re

from app.graphql.persisted import OPERATIONS_DIR
from app.paths import PROJECT_ROOT

EXTENSIONS = PROJECT_ROOT / "extensions"
WIDGET = EXTENSIONS / "loyalty-theme" / "assets" / "loyalty-widget.js"
WIDGET_BUDGET_GZIPPED = 15 * 1024
HASH = re.compile(r"'([0-9a-f]{64})'")


def persisted_hashes() -> dict[str, str]:
    return {path.stem: hashlib.sha256(path.read_bytes()).hexdigest() for path in OPERATIONS_DIR.glob("*.graphql")}


def test_the_ui_extensions_name_each_operation_by_its_files_hash() -> None:
    source = (EXTENSIONS / "shared" / "storefront.ts").read_text()
    named = dict(re.findall(r"(\w+): '([0-9a-f]{64})'", source))
    assert named and all(persisted_hashes()[name] == digest for name, digest in named.items()), named


def test_the_theme_widget_sends_only_persisted_hashes() -> None:
    sent = set(HASH.findall(WIDGET.read_text()))
    assert sent and sent <= set(persisted_hashes().values())


def test_the_theme_widget_is_within_15_kb_gzipped() -> None:
    size = len(gzip.compress(WIDGET.read_bytes(), compresslevel=9))
    assert size <= WIDGET_BUDGET_GZIPPED, f"{size} bytes gzipped"


def test_the_verbatim_operations_are_the_ones_design_fixes() -> None:
    from tests.helpers import GET_LOYALTY_PROFILE, REDEEM_REWARD

    assert (OPERATIONS_DIR / "GetLoyaltyProfile.graphql").read_text().strip() == GET_LOYALTY_PROFILE.strip()
    assert (OPERATIONS_DIR / "RedeemReward.graphql").read_text().strip() == REDEEM_REWARD.strip()


def test_each_ui_extension_toml_names_existing_modules_and_network_access() -> None:
    import tomllib

    targets = {}
    for name in ("loyalty-checkout", "loyalty-account"):
        config = tomllib.loads((EXTENSIONS / name / "shopify.extension.toml").read_text())
        assert config["api_version"] >= "2025-10"
        (extension,) = config["extensions"]
        assert extension["type"] == "ui_extension" and extension["capabilities"]["network_access"] is True
        for target in extension["targeting"]:
            assert (EXTENSIONS / name / target["module"]).is_file()
            targets[target["target"]] = name
    assert set(targets) == {
        "purchase.checkout.block.render",
        "customer-account.page.render",
        "customer-account.order-status.block.render",
    }
    theme = tomllib.loads((EXTENSIONS / "loyalty-theme" / "shopify.extension.toml").read_text())
    assert theme["type"] == "theme"
