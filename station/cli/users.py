"""``station user add|remove|list``: the people who may sign in with more than an ID.

Roles: ``operator``, ``qa``, ``supervisor``. A PIN is asked twice without echo
(or read from the first line of standard input with ``--pin-stdin``, for scripts)
and stored only as a salted scrypt hash by :mod:`records`; it is never printed or
logged. Adding and removing users is recorded in the audit log.
"""

from __future__ import annotations

import sys

import click

from station import render
from station.cli.common import (
    EXIT_ERROR,
    default_operator,
    emit_json,
    fail,
    friendly_errors,
    main,
    pass_ctx,
)

EXIT_USAGE = 2
ROLES = ("operator", "qa", "supervisor")
"""``records.models.ROLES``, repeated so that ``station --help`` need not open the records
package (a test keeps the two equal)."""


def has_terminal() -> bool:
    """Whether a PIN can be asked for without echo (a person at a terminal)."""
    return sys.stdin.isatty()


def read_pin(pin_stdin: bool) -> str:
    from records.users import MIN_PIN_LENGTH

    if pin_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
    elif not has_terminal():
        fail("PIN_NEEDED: a PIN is needed and there is no terminal to ask on",
             "Pass --pin-stdin and give the PIN on the first line of standard input, "
             "e.g. `printf '%s\\n' \"$PIN\" | station user add NAME --role ROLE --pin-stdin`.", code=EXIT_USAGE)
    else:
        pin = click.prompt("PIN", hide_input=True, confirmation_prompt="PIN again")
    if len(pin) < MIN_PIN_LENGTH:
        fail(f"PIN_TOO_SHORT: a PIN needs at least {MIN_PIN_LENGTH} characters", "Choose a longer PIN.",
             code=EXIT_USAGE)
    if pin.strip() != pin:
        fail("PIN_INVALID: a PIN must not start or end with spaces", "Choose another PIN.", code=EXIT_USAGE)
    return pin

@main.group("user")
def user_group() -> None:
    """Add, remove and list station users (QA and supervisors sign in with a PIN)."""

@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from the first line of standard input (scripts).")
@click.option("--by", "actor", default=default_operator, show_default="$STATION_OPERATOR or your login",
              help="Who adds the user (for the audit log).")
@pass_ctx
@friendly_errors
def user_add(ctx, name: str, role: str, pin_stdin: bool, actor: str) -> None:
    """Add user NAME with a role and a PIN (asked twice, not shown)."""
    from records import UserExists

    name = name.strip()
    if not name:
        fail("USER_NAME_EMPTY: the name must not be empty", None, code=EXIT_USAGE)
    records = ctx.station().records
    if any(u.name == name for u in records.users()):
        fail(f"USER_EXISTS: user {name} already exists",
             f"Remove it first (station user remove {name}) to change its role or PIN.")
    pin = read_pin(pin_stdin)
    try:
        user = records.add_user(name, role, pin, actor=actor)
    except UserExists:
        fail(f"USER_EXISTS: user {name} already exists", f"Remove it first (station user remove {name}).")
        return
    except ValueError as exc:
        fail(f"USER_INVALID: {exc}", None, code=EXIT_USAGE)
        return
    click.echo(f"user {user.name} added ({user.role})")

@user_group.command("remove")
@click.argument("name")
@click.option("--by", "actor", default=default_operator, show_default="$STATION_OPERATOR or your login",
              help="Who removes the user (for the audit log).")
@pass_ctx
@friendly_errors
def user_remove(ctx, name: str, actor: str) -> None:
    """Remove user NAME."""
    from records import UserNotFound

    try:
        ctx.station().records.remove_user(name, actor=actor)
    except UserNotFound:
        fail(f"USER_NOT_FOUND: there is no user {name}", "station user list shows the users.", code=EXIT_ERROR)
    click.echo(f"user {name} removed")

@user_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@pass_ctx
@friendly_errors
def user_list(ctx, as_json: bool) -> None:
    """List the users and their roles (never their PINs)."""
    users = ctx.station(read_only=True).records.users()
    if as_json:
        emit_json([{"name": u.name, "role": u.role, "created_at": u.created_at} for u in users])
        return
    if not users:
        click.echo("no users yet (station user add NAME --role supervisor)")
        return
    click.echo(render.table(["name", "role", "added"], [(u.name, u.role, u.created_at) for u in users]))

