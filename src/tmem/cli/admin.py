"""Operator commands: ``tmem migrate`` and ``tmem keys create|list|revoke``.

``tmem.cli.main`` attaches ``migrate`` and ``keys`` when this module imports. Both work on the
store named by ``tmem --db PATH|URL``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import click

from tmem.clock import SystemClock
from tmem.errors import TmemError
from tmem.store import migration
from tmem.store.api_keys import check_tenant, new_api_key
from tmem.store.base import ApiKey, ServiceStore
from tmem.store.factory import open_store


class _State(Protocol):
    """The part of ``tmem.cli.main.State`` these commands use."""

    db: str
    as_json: bool

    @property
    def config(self) -> Any: ...


@contextmanager
def _errors_as_click() -> Iterator[None]:
    try:
        yield
    except TmemError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def _admin_store(state: _State) -> Iterator[ServiceStore]:
    """The service side (API keys) of the store ``tmem --db`` names, closed afterwards."""
    with _errors_as_click():
        store = open_store(state.db, durable=state.config.durable)
        try:
            yield store.service()
        finally:
            store.close()


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


# --- migrate --------------------------------------------------------------------------------------
@click.command()
@click.option("--dry-run", is_flag=True, help="Only list the pending migrations.")
@click.pass_obj
def migrate(state: _State, dry_run: bool) -> None:
    """Bring the store's schema up to date (opening a store does this too).

    Run it explicitly before rolling out servers of a new tmem version. Every migration runs
    in one transaction: if it fails, the store keeps its old schema and all its data.
    """
    with _errors_as_click():
        plan = migration.pending_migrations(state.db)
        if dry_run:
            _report_plan(state, plan)
            return
        result = migration.migrate(state.db, durable=state.config.durable)
    if state.as_json:
        _print_json(
            {"before": result.before, "after": result.after, "applied": list(result.applied)}
        )
        return
    click.echo(f"schema version {result.before} -> {result.after}")
    for name in result.applied:
        click.echo(f"applied {name}")
    if not result.applied:
        click.echo("already up to date")


def _report_plan(state: _State, plan: migration.MigrationPlan) -> None:
    if state.as_json:
        _print_json({"version": plan.version, "latest": plan.latest, "pending": list(plan.pending)})
        return
    click.echo(f"schema version {plan.version} (this tmem: {plan.latest})")
    for name in plan.pending:
        click.echo(f"pending {name}")
    if not plan.pending:
        click.echo("nothing to migrate")


# --- keys -----------------------------------------------------------------------------------------
@click.group()
def keys() -> None:
    """Service API keys: each is bound to one tenant and stored only as a hash."""


def _tenant(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_tenant(value)
    except TmemError as error:
        raise click.BadParameter(str(error)) from None


@keys.command()
@click.option("--tenant", required=True, callback=_tenant, help="1-64 of A-Z a-z 0-9 _ . -")
@click.option("--label", default="", help="A note to recognise the key by, e.g. the app.")
@click.pass_obj
def create(state: _State, tenant: str, label: str) -> None:
    """Make a key for TENANT; the key is printed once, as the last line of output."""
    with _errors_as_click():
        secret, key = new_api_key(tenant, SystemClock().now(), label)
    with _admin_store(state) as store, _errors_as_click():
        store.add_api_key(key)
    click.echo(f"created key {key.id} for tenant {key.tenant}", err=True)
    click.echo("store it now: it cannot be shown again", err=True)
    click.echo(secret)


def _key_dict(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "tenant": key.tenant,
        "label": key.label,
        "created_at": key.created_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
    }


@keys.command(name="list")
@click.option("--tenant", default=None, callback=_tenant, help="Only this tenant's keys.")
@click.pass_obj
def list_(state: _State, tenant: str | None) -> None:
    """List keys (never their secrets), revoked ones included."""
    with _admin_store(state) as store, _errors_as_click():
        found = store.api_keys(tenant)
    if state.as_json:
        _print_json([_key_dict(key) for key in found])
        return
    for key in found:
        status = "live" if key.revoked_at is None else f"revoked {key.revoked_at.isoformat()}"
        click.echo(f"{key.id}\t{key.tenant}\t{key.created_at.isoformat()}\t{status}\t{key.label}")


@keys.command()
@click.argument("key_id")
@click.pass_obj
def revoke(state: _State, key_id: str) -> None:
    """Revoke KEY_ID at once: requests with it are refused from now on."""
    with _admin_store(state) as store, _errors_as_click():
        revoked = store.revoke_api_key(key_id, SystemClock().now())
    if not revoked:
        raise click.ClickException(f"no live key {key_id!r}")
    click.echo(f"revoked {key_id}")
