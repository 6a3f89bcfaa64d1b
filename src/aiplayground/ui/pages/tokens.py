"""Settings → API tokens: create (the secret is shown once), list and revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nicegui import ui

from aiplayground.auth.principal import Role, Scope
from aiplayground.auth.schemas import TokenInfo
from aiplayground.errors import PermissionDenied, PlaygroundError
from aiplayground.store.tables import utcnow
from aiplayground.ui.shell import PageContext, show_error, when

COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "prefix", "label": "Prefix", "field": "prefix", "align": "left"},
    {"name": "scopes", "label": "Scopes", "field": "scopes", "align": "left"},
    {"name": "created", "label": "Created", "field": "created", "align": "left"},
    {"name": "expires", "label": "Expires", "field": "expires", "align": "left"},
    {"name": "last_used", "label": "Last used", "field": "last_used", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
STATUS_COLORS = {"active": "positive", "expired": "grey", "revoked": "negative"}


def token_status(token: TokenInfo) -> str:
    """'active', 'revoked' or 'expired'."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= utcnow():
        return "expired"
    return "active"


def token_panel(ctx: PageContext) -> None:
    """Draw the API tokens tab."""
    ui.label(
        "Use an API token with the REST API, the SDK or the CLI: "
        "send it as 'Authorization: Bearer <token>'. Tokens act as you, limited to their scopes."
    ).classes("aip-muted")
    with ui.card().classes("aip-card w-full p-5 gap-4"):
        ui.label("New token").classes("text-lg font-medium")
        try:
            ctx.principal.require_write()
        except PermissionDenied as exc:
            ui.label(f"You cannot create tokens: {exc.message}.").classes("aip-muted")
        else:
            _create_form(ctx, lambda: token_list.refresh())
    ui.label("Your tokens").classes("text-lg font-medium mt-2")

    @ui.refreshable
    def token_list() -> None:
        _token_table(ctx, token_list.refresh)

    token_list()


def _create_form(ctx: PageContext, refresh: Any) -> None:
    with ui.row().classes("w-full items-start gap-4"):
        name = ui.input("Name", placeholder="e.g. laptop, ci").props(
            "outlined dense maxlength=100 data-testid=token-name"
        )
        name.classes("min-w-[16rem]")
        days = ui.number("Expires after (days)", value=90, min=1, max=3650, precision=0)
        days.props("outlined dense clearable data-testid=token-days").classes("w-48")
        days.tooltip("Leave empty for a token that never expires")
    with ui.row().classes("items-center gap-4"):
        ui.label("Scopes:").classes("aip-muted")
        read = ui.checkbox("read", value=True).props("data-testid=token-scope-read")
        write = ui.checkbox("write", value=True).props("data-testid=token-scope-write")
        admin = ui.checkbox("admin", value=False).props("data-testid=token-scope-admin")
        admin.set_visibility(ctx.principal.role is Role.ADMIN)

    def create() -> None:
        chosen = [
            scope
            for box, scope in ((read, Scope.READ), (write, Scope.WRITE), (admin, Scope.ADMIN))
            if box.value
        ]
        if not chosen:
            ui.notify("Pick at least one scope.", type="warning", position="top")
            return
        try:
            new = ctx.platform.auth.issue_token(
                ctx.current_principal(),
                name.value or "",
                scopes=chosen,
                expires_in=timedelta(days=float(days.value)) if days.value else None,
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        name.value = ""
        reveal.clear()
        with reveal:
            _show_secret(new.token, new.info.name)
        refresh()

    ui.button("Create token", icon="add", on_click=create).props(
        "unelevated no-caps data-testid=token-create"
    )
    reveal = ui.column().classes("w-full")


def _show_secret(secret: str, name: str) -> None:
    with (
        ui.card()
        .classes("w-full p-4 gap-3 bg-amber-50 text-amber-900 border border-amber-300 shadow-none")
        .props("data-testid=token-created")
    ):
        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.icon("warning", size="1.4rem")
            ui.label(
                f"Copy the secret of '{name}' now: it is stored only as a hash and will not be "
                "shown again."
            ).classes("font-medium")
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            ui.input(value=secret).props(
                "readonly outlined dense bg-color=white input-class=font-mono "
                "data-testid=token-secret"
            ).classes("grow")

            def copy() -> None:
                ui.clipboard.write(secret)
                ui.notify("Copied to the clipboard", position="top")

            ui.button("Copy", icon="content_copy", on_click=copy).props(
                "unelevated no-caps data-testid=token-copy"
            )


def _token_table(ctx: PageContext, refresh: Any) -> None:
    tokens = ctx.platform.auth.list_tokens(ctx.principal)
    if not tokens:
        ui.label("You have no API tokens yet.").classes("aip-muted").props(
            "data-testid=tokens-empty"
        )
        return
    rows = [
        {
            "id": t.id,
            "name": t.name,
            "prefix": f"{t.prefix}…",
            "scopes": ", ".join(sorted(s.value for s in t.scopes)),
            "created": when(t.created_at),
            "expires": when(t.expires_at, "never"),
            "last_used": when(t.last_used_at, "never"),
            "status": token_status(t),
            "color": STATUS_COLORS[token_status(t)],
        }
        for t in tokens
    ]
    table = ui.table(columns=COLUMNS, rows=rows, row_key="id").classes("aip-card w-full")
    table.props("flat data-testid=token-table")
    table.add_slot(
        "body-cell-status",
        '<q-td :props="props"><q-badge :color="props.row.color" :label="props.value" '
        "outline /></q-td>",
    )
    table.add_slot(
        "body-cell-actions",
        '<q-td :props="props"><q-btn v-if="props.row.status === \'active\'" flat dense no-caps '
        'color="negative" icon="block" label="Revoke" data-testid="token-revoke" '
        "@click=\"() => $parent.$emit('revoke', props.row)\" /></q-td>",
    )
    table.on("revoke", lambda e: _confirm_revoke(ctx, e.args, refresh))


def _confirm_revoke(ctx: PageContext, row: dict[str, Any], refresh: Any) -> None:
    with ui.dialog() as dialog, ui.card().classes("p-5 gap-4").props("data-testid=revoke-dialog"):
        dialog.on("hide", dialog.delete)
        ui.label(f"Revoke the token '{row['name']}'?").classes("text-lg font-medium")
        ui.label("Programs using it will get 401 Unauthorized at once. This cannot be undone.")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat no-caps")

            def revoke() -> None:
                try:
                    ctx.platform.auth.revoke_token(ctx.current_principal(), row["id"])
                except PlaygroundError as exc:
                    show_error(exc)
                else:
                    ui.notify(f"Revoked '{row['name']}'", type="positive", position="top")
                dialog.close()
                refresh()

            ui.button("Revoke", on_click=revoke).props(
                "unelevated no-caps color=negative data-testid=revoke-confirm"
            )
    dialog.open()
