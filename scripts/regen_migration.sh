#!/usr/bin/env bash
# Regenerate the initial migration (0001) from app.models while the schema is still pre-release.
# Uses a scratch database on the local PostgreSQL (or $REGEN_DATABASE_URL); keeps 0002 (hand-written trigger).
set -euo pipefail
cd "$(dirname "$0")/.."
url="${REGEN_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
scratch="loyalty_regen_$$"
python - "$url" "$scratch" <<'PY'
import sys, pathlib, re
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from alembic import command
from app.migrations import alembic_config

admin_url, scratch = make_url(sys.argv[1]), sys.argv[2]
admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
with admin.connect() as c:
    c.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
try:
    versions = pathlib.Path("migrations/versions")
    initial = versions / "20261124_initial_schema.py"
    initial.unlink(missing_ok=True)
    url = admin_url.set(database=scratch).render_as_string(hide_password=False)
    cfg = alembic_config(url)
    # 0002 revises 0001; hide it while generating so alembic sees an empty history.
    trigger = versions / "20261124_ledger_append_only.py"
    hidden = trigger.with_suffix(".hidden")
    trigger.rename(hidden)
    try:
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
    finally:
        hidden.rename(trigger)
    text = initial.read_text()
    text = re.sub(r"Create Date: .*", "Create Date: 2026-11-24", text).replace("Revises: \n", "Revises:\n")
    initial.write_text(text)
finally:
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
print("regenerated", initial)
PY
