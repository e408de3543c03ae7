"""``station cloud local|claim-create``: one-off cloud administration."""

from __future__ import annotations

import sys
import time

import click

from station.cli.common import Context, as_dict, emit_json, friendly_errors, main, pass_ctx
from station.errors import StationError


@main.group()
def cloud() -> None:
    """One-off cloud administration (run by the AWS account's administrator, not on the line)."""


@cloud.command("local")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@pass_ctx
@friendly_errors
def cloud_local(ctx: Context, port: int) -> None:
    """Run a DynamoDB-compatible server on this PC (loopback only) until Ctrl-C.

    For trying `station sync`, `station-gui` and reports from the cloud on a demo station.
    Its tables live in memory: they are gone when it stops.
    """
    from station.allowlist_item import create_allowlist_table
    from station.config import find_config, load_config
    from station.sync.dynamo import make_client
    from station.sync.local_server import LocalDynamo

    with LocalDynamo(port=port) as server:
        click.echo(f"DynamoDB-compatible server at {server.endpoint_url} (loopback only, in memory)")
        try:
            config = load_config(find_config(ctx.config_path))
        except StationError:
            config = None
        if config is not None and config.cloud.table:
            from dataclasses import replace

            cloud = replace(config.cloud, endpoint_url=server.endpoint_url, region=config.cloud.region or "us-east-1")
            create_allowlist_table(make_client(cloud), cloud.table)
            click.echo(f"table {cloud.table} ready (from {config.path})")
        click.echo("Press Ctrl-C to stop it.")
        sys.stdout.flush()
        while True:
            time.sleep(3600)


@cloud.command("claim-create")
@click.option("--template", required=True, help="Fleet provisioning template name (cloud/template.yaml's TemplateName).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the claim files.")
@click.option("--policy", help="Claim IoT policy to attach (default: TEMPLATE-claim, as the template creates it).")
@click.option("--region", help="AWS region (default: [cloud] region of station.ini, if there is one).")
@click.option("--profile", help="AWS profile (default: [cloud] profile of station.ini, if there is one).")
@click.option("--endpoint-url", help="Another IoT endpoint (tests, local emulators).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def claim_create(ctx: Context, template: str, out_dir: str, policy: str | None, region: str | None,
                 profile: str | None, endpoint_url: str | None, as_json: bool) -> None:
    """Create the shared claim certificate and key in AWS IoT and write them to --out."""
    from pathlib import Path

    from station.admin.claim_create import create_claim
    from station.config import find_config, load_config

    try:
        cloud_config = load_config(find_config(ctx.config_path)).cloud
    except StationError as exc:
        if exc.code != "CONFIG_MISSING":
            raise
    else:
        region = region or cloud_config.region
        profile = profile or cloud_config.profile

    created = create_claim(template, Path(out_dir), policy=policy, region=region, profile=profile,
                           endpoint_url=endpoint_url)
    if as_json:
        emit_json({k: str(v) for k, v in as_dict(created).items()})
        return
    click.echo(f"claim certificate {created.certificate_id} created, policy {created.policy_name} attached")
    click.echo(f"  {created.certificate}\n  {created.private_key}  (owner-only; copy it to the line PCs securely)")
    click.echo(f"  {created.root_ca}")
    click.echo("\nPut these lines in each station's station.ini (adjust the paths on the line PC):\n")
    click.echo(created.ini_lines())


# Commands that live in modules of their own; they take `main` rather than import it.


def _registry(ctx: Context, table: str | None, region: str | None, profile: str | None,
              endpoint_url: str | None) -> tuple[object, str]:
    """A DynamoDB client and the station registry table, from the options or station.ini."""
    from dataclasses import replace

    from station.config import CloudConfig, find_config, load_config
    from station.sync.dynamo import make_client

    try:
        cloud_config = load_config(find_config(ctx.config_path)).cloud
    except StationError:
        cloud_config = CloudConfig()
    cloud_config = replace(
        cloud_config,
        region=region or cloud_config.region,
        profile=profile or cloud_config.profile,
        endpoint_url=endpoint_url or cloud_config.endpoint_url,
    )
    name = table or cloud_config.stations_table
    if not name:
        raise StationError("no station registry table is named", code="STATIONS_TABLE_MISSING",
                           hint="Pass --table NAME (the stack's StationsTable output) or set "
                           "[cloud] stations_table in station.ini.")
    return make_client(cloud_config), name


def _registry_options(command):  # type: ignore[no-untyped-def]
    for option in reversed((
        click.option("--table", help="The station registry table (default: [cloud] stations_table)."),
        click.option("--region"),
        click.option("--profile"),
        click.option("--endpoint-url", help="Another DynamoDB endpoint (tests, a local server)."),
    )):
        command = option(command)
    return command


@cloud.command("register-station")
@click.option("--public-key", "public_key", required=True, type=click.Path(dir_okay=False, exists=True),
              help="The station's public key file (`station key show --pem > FILE` on the station).")
@click.option("--station-id", required=True, help="The station's [station] id.")
@_registry_options
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def register_station_command(ctx: Context, public_key: str, station_id: str, table: str | None,
                             region: str | None, profile: str | None, endpoint_url: str | None,
                             as_json: bool) -> None:
    """Register a station's signing key: the hook then accepts the rows it signs."""
    from pathlib import Path

    from station.admin.stations import public_der_from_pem, register_station

    client, name = _registry(ctx, table, region, profile, endpoint_url)
    entry = register_station(client, name, station_id, public_der_from_pem(Path(public_key).read_bytes()))
    if as_json:
        emit_json(as_dict(entry))
        return
    click.echo(f"station {entry.station_id} registered: key {entry.key_id} active in {name}")


@cloud.command("retire-station")
@click.argument("key_id")
@_registry_options
@pass_ctx
@friendly_errors
def retire_station_command(ctx: Context, key_id: str, table: str | None, region: str | None,
                           profile: str | None, endpoint_url: str | None) -> None:
    """Retire a station key (stolen, scrapped, re-keyed): the hook refuses every row it signed."""
    from station.admin.stations import retire_station

    client, name = _registry(ctx, table, region, profile, endpoint_url)
    retire_station(client, name, key_id)
    click.echo(f"station key {key_id} retired in {name}: rows it signed are refused from now on")


@cloud.command("stations")
@_registry_options
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def stations_command(ctx: Context, table: str | None, region: str | None, profile: str | None,
                     endpoint_url: str | None, as_json: bool) -> None:
    """List the registered station keys, active and retired."""
    from station import render
    from station.admin.stations import list_stations

    client, name = _registry(ctx, table, region, profile, endpoint_url)
    found = list_stations(client, name)
    if as_json:
        emit_json([as_dict(s) for s in found])
        return
    click.echo(render.table(["station", "key id", "status", "registered", "retired"],
                            [(s.station_id, s.key_id, s.status, s.registered_at, s.retired_at or "")
                             for s in found]))
