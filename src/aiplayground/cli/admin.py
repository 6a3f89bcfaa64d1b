"""`aiplayground admin`: operator commands that act on the database directly."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from aiplayground.auth.principal import Role

if TYPE_CHECKING:
    from aiplayground.app import Platform

admin_app = typer.Typer(help="Operator commands: users, tokens, login links.", no_args_is_help=True)


def open_platform() -> Platform:
    """The platform of the configured data folder, with its schema up to date."""
    from aiplayground.app import build_platform
    from aiplayground.settings import load_settings
    from aiplayground.store.migrate import migrate

    platform = build_platform(load_settings())
    migrate(platform.db.engine)
    return platform


@admin_app.command("create-token")
def create_token(
    user: Annotated[str, typer.Option("--user", help="User the token belongs to.")],
    create_user: Annotated[
        bool, typer.Option("--create-user", help="Create the user if missing.")
    ] = False,
    role: Annotated[Role, typer.Option(help="Role for a created user.")] = Role.MEMBER,
    name: Annotated[str, typer.Option(help="Token name.")] = "cli",
    expires_days: Annotated[
        float | None, typer.Option(help="Expiry in days (default: never).")
    ] = None,
) -> None:
    """Print a new API token for USER on the last line of stdout."""
    from aiplayground.errors import NotFound

    platform = open_platform()
    try:
        account = (
            platform.auth.ensure_user(user, role) if create_user else platform.auth.get_user(user)
        )
    except NotFound:
        typer.echo(f"no user named {user!r}; add --create-user to create it", err=True)
        raise typer.Exit(1) from None
    expires = timedelta(days=expires_days) if expires_days else None
    new = platform.auth.create_token(account.id, name, expires_in=expires)
    typer.echo(new.token)


@admin_app.command("login-link")
def login_link(
    user: Annotated[str, typer.Option("--user", help="User to log in as.")] = "admin",
    hours: Annotated[float, typer.Option(help="How long the link stays valid.")] = 24.0,
    url: Annotated[
        str | None,
        typer.Option(
            help="Server address in the link (default: AIP_SERVER__PUBLIC_URL, "
            "else http://AIP_SERVER__HOST:AIP_SERVER__PORT)."
        ),
    ] = None,
) -> None:
    """Print a one-time browser login link for USER."""
    platform = open_platform()
    account = platform.auth.get_user(user)
    secret = platform.auth.create_login_link(account.id, ttl=timedelta(hours=hours))
    base = (url or platform.settings.public_url).rstrip("/")
    typer.echo(f"{base}/auth/link/{secret}")


@admin_app.command("create-user")
def create_user_command(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[Role, typer.Option(help="Role.")] = Role.MEMBER,
) -> None:
    """Create a user (they log in with a login link or a token, then set a password)."""
    platform = open_platform()
    created = platform.auth.create_user(name, role=role)
    typer.echo(f"created {created.name} ({created.role})")
