"""Settings → Users (admins only): list, create, change role, suspend and reactivate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import run, ui

from aiplayground.auth.principal import Role
from aiplayground.errors import PlaygroundError
from aiplayground.ui.shell import PageContext, show_error, when

COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True},
    {"name": "display_name", "label": "Display name", "field": "display_name", "align": "left"},
    {"name": "role", "label": "Role", "field": "role", "align": "left", "sortable": True},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "created", "label": "Created", "field": "created", "align": "left"},
    {"name": "last_login", "label": "Last login", "field": "last_login", "align": "left"},
    {"name": "actions", "label": "", "field": "name", "align": "right"},
]
ROLES = [role.value for role in Role]


def users_panel(ctx: PageContext) -> None:
    """Draw the Users tab; the caller must be an admin."""

    @ui.refreshable
    def user_list() -> None:
        _user_table(ctx, user_list.refresh)

    with ui.card().classes("aip-card w-full p-5 gap-4"):
        ui.label("New user").classes("text-lg font-medium")
        _create_form(ctx, lambda: user_list.refresh())
    ui.label("Users").classes("text-lg font-medium mt-2")
    user_list()


def _create_form(ctx: PageContext, refresh: Callable[[], Any]) -> None:
    with ui.row().classes("w-full items-start gap-4"):
        name = ui.input("User name", placeholder="lowercase, e.g. jdoe").props(
            "outlined dense data-testid=user-new-name"
        )
        display = ui.input("Display name").props("outlined dense data-testid=user-new-display")
        role = ui.select(ROLES, value=Role.MEMBER.value, label="Role").props(
            "outlined dense data-testid=user-new-role"
        )
        role.classes("w-36")
        password = ui.input("Initial password (optional)", password=True).props(
            "outlined dense autocomplete=new-password data-testid=user-new-password"
        )
    ui.label(
        "Without a password the user logs in with a one-time link: "
        "make one with 'Login link' in the list below."
    ).classes("text-sm aip-muted")

    async def create() -> None:
        try:
            ctx.current_principal().require_admin()
            # Hashing a password takes a noticeable moment; keep it off the event loop.
            created = await run.io_bound(
                ctx.platform.auth.create_user,
                (name.value or "").strip(),
                role=Role(role.value),
                password=password.value or None,
                display_name=(display.value or "").strip(),
            )
        except PlaygroundError as exc:
            show_error(exc)
            return
        if created is None:  # the server is shutting down
            return
        for field in (name, display, password):
            field.value = ""
        ui.notify(f"Created {created.name} ({created.role.value})", type="positive", position="top")
        refresh()

    ui.button("Create user", icon="person_add", on_click=create).props(
        "unelevated no-caps data-testid=user-create"
    )


def _user_table(ctx: PageContext, refresh: Callable[[], Any]) -> None:
    try:
        users = ctx.platform.auth.list_users(ctx.current_principal())
    except PlaygroundError as exc:
        ui.label(exc.message).classes("aip-muted")
        return
    rows = [
        {
            "name": u.name,
            "display_name": u.display_name,
            "role": u.role.value,
            "status": "active" if u.is_active else "suspended",
            "active": u.is_active,
            "self": u.id == ctx.principal.user_id,
            "created": when(u.created_at),
            "last_login": when(u.last_login_at, "never"),
        }
        for u in users
    ]
    table = ui.table(columns=COLUMNS, rows=rows, row_key="name").classes("aip-card w-full")
    table.props("flat data-testid=user-table")
    table.add_slot(
        "body-cell-status",
        "<q-td :props=\"props\"><q-badge :color=\"props.row.active ? 'positive' : 'negative'\" "
        ':label="props.value" outline /></q-td>',
    )
    # Admins cannot demote or suspend themselves (the service refuses), so no buttons there.
    table.add_slot(
        "body-cell-actions",
        """
        <q-td :props="props">
          <template v-if="!props.row.self">
            <q-btn flat dense no-caps icon="link" label="Login link"
              @click="() => $parent.$emit('link', props.row)" />
            <q-btn flat dense no-caps icon="manage_accounts" label="Role"
              @click="() => $parent.$emit('role', props.row)" />
            <q-btn v-if="props.row.active" flat dense no-caps color="negative" icon="block"
              label="Suspend" @click="() => $parent.$emit('suspend', props.row)" />
            <q-btn v-else flat dense no-caps color="positive" icon="restart_alt"
              label="Reactivate" @click="() => $parent.$emit('reactivate', props.row)" />
          </template>
        </q-td>
        """,
    )
    table.on("link", lambda e: _login_link(ctx, e.args))
    table.on("role", lambda e: _change_role(ctx, e.args, refresh))
    table.on("suspend", lambda e: _set_active(ctx, e.args, False, refresh))
    table.on("reactivate", lambda e: _set_active(ctx, e.args, True, refresh))


def _login_link(ctx: PageContext, row: dict[str, Any]) -> None:
    try:
        secret = ctx.platform.auth.issue_login_link(ctx.current_principal(), row["name"])
    except PlaygroundError as exc:
        show_error(exc)
        return
    # The address the admin's browser used is the one the user can reach, unless configured.
    base = ctx.platform.settings.server.public_url or str(ctx.request.base_url)
    link = f"{base.rstrip('/')}/auth/link/{secret}"
    with ui.dialog() as dialog, ui.card().classes("p-5 gap-3 min-w-[28rem]"):
        dialog.on("hide", dialog.delete)
        ui.label(f"One-time login link for {row['name']}").classes("text-lg font-medium")
        ui.label(
            "Send it to them privately. It logs them in once, within 24 hours; "
            "then they can set a password in Settings → Account."
        ).classes("aip-muted")
        ui.input(value=link).props("readonly outlined dense data-testid=user-login-link").classes(
            "w-full"
        )
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Copy", icon="content_copy", on_click=lambda: ui.clipboard.write(link)).props(
                "flat no-caps"
            )
            ui.button("Done", on_click=dialog.close).props("unelevated no-caps")
    dialog.open()


def _change_role(ctx: PageContext, row: dict[str, Any], refresh: Callable[[], Any]) -> None:
    with ui.dialog() as dialog, ui.card().classes("p-5 gap-4 min-w-[20rem]"):
        dialog.on("hide", dialog.delete)
        ui.label(f"Role of {row['name']}").classes("text-lg font-medium")
        choice = ui.select(ROLES, value=row["role"], label="Role").props("outlined dense")
        ui.label("admin: everything · member: create and change · viewer: read only").classes(
            "text-sm aip-muted"
        )
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat no-caps")

            def save() -> None:
                _update(ctx, row["name"], refresh, role=Role(choice.value))
                dialog.close()

            ui.button("Save", on_click=save).props("unelevated no-caps")
    dialog.open()


def _set_active(
    ctx: PageContext, row: dict[str, Any], active: bool, refresh: Callable[[], Any]
) -> None:
    if active:
        _update(ctx, row["name"], refresh, is_active=True)
        return
    with ui.dialog() as dialog, ui.card().classes("p-5 gap-4"):
        dialog.on("hide", dialog.delete)
        ui.label(f"Suspend {row['name']}?").classes("text-lg font-medium")
        ui.label("Their sessions and API tokens stop working until you reactivate the account.")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat no-caps")

            def suspend() -> None:
                _update(ctx, row["name"], refresh, is_active=False)
                dialog.close()

            ui.button("Suspend", on_click=suspend).props("unelevated no-caps color=negative")
    dialog.open()


def _update(
    ctx: PageContext,
    name: str,
    refresh: Callable[[], Any],
    *,
    role: Role | None = None,
    is_active: bool | None = None,
) -> None:
    try:
        user = ctx.platform.auth.update_user(
            ctx.current_principal(), name, role=role, is_active=is_active
        )
    except PlaygroundError as exc:
        show_error(exc)
        return
    state = "active" if user.is_active else "suspended"
    ui.notify(f"{user.name}: {user.role.value}, {state}", type="positive", position="top")
    refresh()
