"""``station key create|show``: the station's own signing key, which signs every row it syncs."""

from __future__ import annotations

import click

from station.cli.common import Context, emit_json, friendly_errors, main, pass_ctx


@main.group()
def key() -> None:
    """The station's signing key (every allow-list row it syncs is signed with it)."""


@key.command("create")
@pass_ctx
@friendly_errors
def key_create(ctx: Context) -> None:
    """Make this station's key pair ([station] signing_key, owner-only) and print what the
    cloud administrator needs to register it."""
    from station.config import find_config, load_config
    from station.sync.signing import create_signing_key

    config = load_config(find_config(ctx.config_path))
    signer = create_signing_key(config.signing_key, config.station_id,
                                passphrase_env=config.signing_passphrase_env)
    click.echo(f"signing key written to {config.signing_key} (owner-only); key id {signer.key_id}")
    click.echo("Give the public key below to the cloud administrator, who runs:")
    click.echo(f"  station cloud register-station --station-id {config.station_id} --public-key FILE\n")
    click.echo(signer.public_pem().rstrip())


@key.command("show")
@click.option("--pem", "pem_only", is_flag=True, help="Print only the public key (PEM).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@friendly_errors
def key_show(ctx: Context, pem_only: bool, as_json: bool) -> None:
    """Print the station's public key and key id (never the private key)."""
    from station.config import find_config, load_config
    from station.sync.signing import load_signing_key

    config = load_config(find_config(ctx.config_path))
    signer = load_signing_key(config.signing_key, config.station_id,
                              passphrase_env=config.signing_passphrase_env)
    if as_json:
        emit_json({"station_id": config.station_id, "key_id": signer.key_id,
                   "public_key_pem": signer.public_pem()})
    elif pem_only:
        click.echo(signer.public_pem().rstrip())
    else:
        click.echo(f"station {config.station_id}, key id {signer.key_id}\n")
        click.echo(signer.public_pem().rstrip())
