"""`flask --app app rules …`: rules as code (validate, apply, list, show, diff, restore), explain, backtest, retro."""

from __future__ import annotations

import getpass
import json
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.loyalty import rulebook
from app.loyalty.base.errors import LoyaltyError
from app.models import Shop
from app.rules import RULE_JSON_SCHEMA, RuleIssue, parse_rule, render_trace, validate_rule
from app.rules.diff import diff_definitions

rules_cli = AppGroup("rules", help="Loyalty rules as code: validate, apply, inspect, explain, backtest.")

SHOP = click.option("--shop", "domain", required=True, help="The shop's myshopify.com domain.")
ACTOR = click.option(
    "--actor",
    default=lambda: f"cli:{getpass.getuser()}",
    show_default="cli:<user>",
    help="Who makes the change (recorded on versions and ledger entries).",
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _load_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise click.ClickException(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise click.ClickException(
            f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None


def _rules_in(path: str) -> list[dict[str, Any]]:
    """The rules of a file holding one rule or a list of rules; exit 1 listing every issue by JSON pointer."""
    data = _load_json(path)
    rules = data if isinstance(data, list) else [data]
    issues: list[RuleIssue] = []
    for index, rule in enumerate(rules):
        prefix = f"/{index}" if isinstance(data, list) else ""
        issues.extend(RuleIssue(prefix + issue.pointer, issue.message) for issue in validate_rule(rule))
    names = [rule.get("name") for rule in rules if isinstance(rule, dict)]
    for index, name in enumerate(names):
        if name in names[:index]:
            issues.append(RuleIssue(f"/{index}/name", f"repeats the name {name!r} of an earlier rule in the file"))
    if issues:
        for issue in issues:
            click.echo(f"{path}: {issue.pointer or '/'}: {issue.message}", err=True)
        raise click.exceptions.Exit(1)
    return rules


def _shop(domain: str) -> Shop:
    shop = db.session.execute(select(Shop).where(Shop.domain == domain)).scalar_one_or_none()
    if shop is None:
        raise click.ClickException(f"shop {domain} is not installed")
    return shop


def _moment(text: str, zone: str, *, end: bool) -> datetime:
    """An ISO date (shop-local midnight; an end date includes its whole day) or a date-time with an offset."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), tzinfo=ZoneInfo(zone))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


@rules_cli.command("validate")
@click.argument("path", type=click.Path(dir_okay=False))
def validate_command(path: str) -> None:
    """Check a rule file (one rule or a list): exit 1 with every error by JSON pointer, else 0."""
    rules = _rules_in(path)
    click.echo(f"{path}: {len(rules)} valid rule(s)")


@rules_cli.command("schema")
def schema_command() -> None:
    """Print the rule language's JSON Schema (the one the admin builder uses)."""
    click.echo(json.dumps(RULE_JSON_SCHEMA, indent=2, sort_keys=True))


@rules_cli.command("apply")
@SHOP
@ACTOR
@click.argument("path", type=click.Path(dir_okay=False))
def apply_command(domain: str, actor: str, path: str) -> None:
    """Create or update rules by name; a changed rule becomes a new version, an identical one changes nothing."""
    definitions = _rules_in(path)
    now = _now()
    with db.session.begin():
        shop = _shop(domain)
        results = [
            rulebook.save_rule(db.session, shop_id=shop.id, definition=definition, actor=actor, now=now)
            for definition in definitions
        ]
        lines = [_describe(result) for result in results]
    click.echo("\n".join(lines))


def _describe(result: rulebook.SaveResult) -> str:
    name, number = result.rule.name, result.version.version
    if result.created:
        return f"created {name!r} v{number}"
    if not result.changed:
        return f"unchanged {name!r} (v{number})"
    return "\n".join([f"updated {name!r} v{number - 1} -> v{number}", *(f"  {change}" for change in result.diff)])


@rules_cli.command("list")
@SHOP
def list_command(domain: str) -> None:
    """List the shop's rules: status, priority, current version, points issued."""
    shop = _shop(domain)
    pairs = rulebook.current_versions(db.session, shop_id=shop.id)
    if not pairs:
        click.echo("no rules")
    for row, version in sorted(pairs, key=lambda pair: (-pair[0].priority, pair[0].name)):
        click.echo(
            f"{row.name}\t{row.status}\tpriority {row.priority}\tv{version.version}\t{row.points_issued} points issued"
        )
    db.session.rollback()  # read only


@rules_cli.command("show")
@SHOP
@click.argument("name")
@click.option("--version", type=int, help="A past version (default: the current one).")
def show_command(domain: str, name: str, version: int | None) -> None:
    """Print one rule version as JSON, with who saved it and when."""
    shop = _shop(domain)
    row, found = _or_exit(lambda: rulebook.get_version(db.session, shop_id=shop.id, name=name, version=version))
    click.echo(json.dumps(rulebook.version_summary(row, found), indent=2, default=str))
    db.session.rollback()  # read only


@rules_cli.command("diff")
@SHOP
@click.argument("name", required=False)
@click.option("--from", "from_version", type=int, help="Older version (default: the one before --to).")
@click.option("--to", "to_version", type=int, help="Newer version (default: the current one).")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="Diff a rule file against what is stored.")
def diff_command(
    domain: str, name: str | None, from_version: int | None, to_version: int | None, path: str | None
) -> None:
    """Show the structured diff between two versions of a rule, or what `apply FILE` would change."""
    try:
        _diff(_shop(domain), name, from_version, to_version, path)
    finally:
        db.session.rollback()  # read only


def _diff(shop: Shop, name: str | None, from_version: int | None, to_version: int | None, path: str | None) -> None:
    if path is not None:
        for definition in _rules_in(path):
            found = rulebook.current_versions(db.session, shop_id=shop.id, names=[definition["name"].strip()])
            old = found[0][1].definition if found else {}
            changes = diff_definitions(old, parse_rule(definition).definition)
            click.echo(f"{definition['name']!r}: " + ("new rule" if not found else f"{len(changes)} change(s)"))
            for change in changes if found else []:
                click.echo(f"  {change}")
        return
    if name is None:
        raise click.UsageError("name a rule, or pass --file")
    row, current = _or_exit(lambda: rulebook.get_version(db.session, shop_id=shop.id, name=name, version=to_version))
    older = from_version if from_version is not None else current.version - 1
    if older < 1:
        raise click.ClickException(f"{name!r} has only version {current.version}; nothing to compare")
    changes = _or_exit(
        lambda: rulebook.diff_versions(
            db.session, shop_id=shop.id, name=name, from_version=older, to_version=current.version
        )
    )
    click.echo(f"{name!r} v{older} -> v{current.version}: {len(changes)} change(s)")
    for change in changes:
        click.echo(f"  {change}")


@rules_cli.command("restore")
@SHOP
@ACTOR
@click.argument("name")
@click.option("--version", type=int, required=True, help="The version to make current again.")
def restore_command(domain: str, actor: str, name: str, version: int) -> None:
    """Restore an old version of a rule as a new version."""
    with db.session.begin():
        shop = _shop(domain)
        result = _or_exit(
            lambda: rulebook.restore_version(
                db.session, shop_id=shop.id, name=name, version=version, actor=actor, now=_now()
            )
        )
        line = _describe(result)
    click.echo(line)


@rules_cli.command("explain")
@SHOP
@click.argument("event_path", type=click.Path(dir_okay=False))
@click.option("--rule", "names", multiple=True, help="Only this stored rule (any status); repeatable.")
@click.option("--draft", "draft_path", type=click.Path(dir_okay=False), help="Rules from a file instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the evaluation as JSON.")
def explain_command(
    domain: str, event_path: str, names: tuple[str, ...], draft_path: str | None, as_json: bool
) -> None:
    """Dry-run the live rules (or --rule / --draft) on an event and explain each rule; writes nothing."""
    shop = _shop(domain)
    drafts = _rules_in(draft_path) if draft_path else None
    evaluation = _or_exit(
        lambda: rulebook.dry_run(
            db.session, shop=shop, event=_load_json(event_path), now=_now(), drafts=drafts, names=list(names) or None
        )
    )
    db.session.rollback()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "points_total": evaluation.points_total,
                    "decisions": [
                        {**decision._asdict(), "params": dict(decision.params)} for decision in evaluation.decisions
                    ],
                    "results": [
                        {
                            "rule": result.name,
                            "fired": result.fired,
                            "skipped_reason": result.skipped_reason,
                            "trace": [node.to_json() for node in result.trace],
                        }
                        for result in evaluation.results
                    ],
                },
                indent=2,
                default=str,
            )
        )
        return
    if not evaluation.results:
        click.echo("no rules to evaluate")
    for result in evaluation.results:
        click.echo(f"{result.name}: " + ("fired" if result.fired else f"did not fire ({result.skipped_reason})"))
        click.echo("\n".join(render_trace(result.trace)) or "  (no conditions)")
    for decision in evaluation.decisions:
        points = f" {decision.points} points" if decision.points is not None else ""
        click.echo(
            f"-> {decision.rule_name} action {decision.action_index}: {decision.type}{points}"
            f"{f' ({decision.reason})' if decision.reason else ''}"
        )
    click.echo(f"points for the customer: {evaluation.points_total}")


@rules_cli.command("backtest")
@SHOP
@click.option("--from", "start", required=True, help="First day (ISO date, shop time) or date-time.")
@click.option("--to", "end", required=True, help="Last day, included (ISO date), or an exclusive date-time.")
@click.argument("path", type=click.Path(dir_okay=False))
def backtest_command(domain: str, start: str, end: str, path: str) -> None:
    """Replay stored events through the live rules with FILE's rules swapped in; report the change. Writes nothing."""
    drafts = _rules_in(path)
    shop = _shop(domain)
    since, until = _moment(start, shop.timezone, end=False), _moment(end, shop.timezone, end=True)
    if until <= since:
        raise click.BadParameter("--to must be after --from")

    def progress(done: int, total: int) -> None:
        click.echo(f"\r{done:,}/{total:,} events", nl=done >= total, err=True)

    result = rulebook.backtest(db.session, shop=shop, drafts=drafts, start=since, end=until, progress=progress)
    db.session.rollback()
    click.echo(f"events replayed: {result.events:,} in {result.seconds:.1f} s")
    click.echo(
        f"points: {result.points:,} with the draft rules, {result.baseline_points:,} with the live rules "
        f"({result.points_change:+,})"
    )
    click.echo(
        f"customers affected: {result.customers_affected:,}; earning with the drafts: {result.customers_earning:,}"
    )
    click.echo(f"liability change: {result.liability_change:+} {result.currency}")
    for name, tally in sorted(result.by_rule.items()):
        click.echo(f"  {name}: fired {tally.firings:,} times, {tally.points:,} points")
    for move in result.tier_movements:
        click.echo(f"  tier: customer {move['customer_id']} {move['from'] or '-'} -> {move['to'] or '-'}")


@rules_cli.command("retro")
@SHOP
@ACTOR
@click.argument("name")
@click.option("--from", "start", required=True, help="First day (ISO date, shop time) or date-time.")
@click.option("--to", "end", required=True, help="Last day, included (ISO date), or an exclusive date-time.")
@click.option("--version", type=int, help="A past version (default: the current one).")
def retro_command(domain: str, actor: str, name: str, start: str, end: str, version: int | None) -> None:
    """Apply a rule to past events for real, once per event, as a batch `retro-reverse` can undo: a chunk of events
    per transaction, as the worker runs the admin's (each commits its credits with the run's progress)."""
    with db.session.begin():
        shop = _shop(domain)
        run = _or_exit(
            lambda: rulebook.queue_retroactive_run(
                db.session,
                shop=shop,
                name=name,
                start=_moment(start, shop.timezone, end=False),
                end=_moment(end, shop.timezone, end=True),
                actor=actor,
                now=_now(),
                version=version,
            )
        )
        run_id, owner = run.id, uuid.uuid4()
        rulebook.claim_retroactive_run(db.session, run_id=run_id, owner=owner, now=_now())
    _finish_run(run_id, owner, "retro-reverse to take it back")
    with db.session.begin():
        done = rulebook.find_retroactive_run(db.session, shop_id=shop.id, run_id=run_id)
        click.echo(
            f"batch {run_id}: {done.events_done} events, {done.credits} credits, {done.points} points; "
            f"{done.duplicates} already credited; {done.skipped_actions} non-point actions skipped"
        )


@rules_cli.command("retro-reverse")
@SHOP
@ACTOR
@click.argument("batch_id", type=click.UUID)
def retro_reverse_command(domain: str, actor: str, batch_id: uuid.UUID) -> None:
    """Take back what a retroactive batch credited, a chunk of customers per transaction as the worker undoes the
    admin's (a batch undone already is refused saying so)."""
    with db.session.begin():
        shop = _shop(domain)
        run = rulebook.find_retroactive_run(db.session, shop_id=shop.id, run_id=batch_id)
        if run is None:  # a batch from before runs were queued
            result = _or_exit(
                lambda: rulebook.reverse_retroactive_run(
                    db.session, shop=shop, batch_id=batch_id, actor=actor, now=_now()
                )
            )
            customers, reversed_, shortfall = result.customers, result.reversed, result.shortfall
        else:
            _or_exit(
                lambda: rulebook.request_undo(db.session, shop_id=shop.id, run_id=batch_id, actor=actor, now=_now())
            )
            owner = uuid.uuid4()
            if not rulebook.claim_retroactive_run(db.session, run_id=batch_id, owner=owner, now=_now()):
                raise click.ClickException(f"batch {batch_id} is being undone by a worker already")
    if run is not None:
        _finish_run(batch_id, owner, "retro-reverse again")
        with db.session.begin():
            done = rulebook.find_retroactive_run(db.session, shop_id=shop.id, run_id=batch_id)
            customers, reversed_, shortfall = done.undo_customers, done.undo_reversed, done.undo_shortfall
    click.echo(
        f"batch {batch_id}: {customers} customers, {reversed_} points taken back, {shortfall} already spent (not taken)"
    )


def _finish_run(run_id: uuid.UUID, owner: uuid.UUID, again: str) -> None:
    """Take a claimed retroactive run, or its undo, to its end here as the worker would; when a chunk fails the run is
    marked failed and the command exits 1 saying what to do."""
    try:
        rulebook.finish_retroactive_run(db.session, run_id=run_id, owner=owner, clock=_now)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise click.ClickException(f"batch {run_id} stopped: {error}; what is done stays, {again} to go on") from exc


def _or_exit(call: Any) -> Any:
    """Run a domain call; a domain error becomes a clean CLI error (exit 1) with its message."""
    try:
        return call()
    except LoyaltyError as error:
        raise click.ClickException(str(error)) from None
