"""Console pages for administrators: staff users and their roles, and the platform's API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from staydown.actors import Actor
from staydown.errors import InvalidInput, RuleViolation
from staydown.http import DbSession, require
from staydown.i18n import N_, gettext
from staydown.intake.schemas import EMAIL_RE
from staydown.limits import DbId
from staydown.staff import actions
from staydown.staff.permissions import API_SCOPES, DEFAULT_API_SCOPES, Permission, Role
from staydown.staff.totp import reset_totp
from staydown.web.console import queries
from staydown.web.console.page_forms import done_message, optional_text, see_other, text
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(prefix="/console", dependencies=[Depends(console_session)], include_in_schema=False)

StaffAdmin = Annotated[Actor, Depends(require(Permission.STAFF_ADMIN))]
KeyAdmin = Annotated[Actor, Depends(require(Permission.API_KEYS_ADMIN))]

MIN_PASSWORD = 12
MAX_PASSWORD = 200
ROLE_NOTES = {
    Role.admin: N_("runs the system: staff, keys, policies, banks; no evidence or child-safety cases"),
    Role.moderator: N_("reviews cases (not child-safety cases)"),
    Role.senior_moderator: N_("second review, appeals, bank changes"),
    Role.child_safety: N_("child-safety cases, NCMEC reports, the evidence vault"),
    Role.legal: N_("holds, law-enforcement requests, NCMEC reports, audit"),
    Role.auditor: N_("reads the audit log and transparency figures"),
}


def _roles(values: list[str]) -> list[str]:
    if len(values) > len(Role):
        raise InvalidInput(gettext("too many roles"))
    return values


def _password(value: str, *, required: bool) -> str | None:
    if not value and not required:
        return None
    if len(value) < MIN_PASSWORD:
        raise InvalidInput(gettext("a password is at least %(min_password)s characters", min_password=MIN_PASSWORD))
    if len(value) > MAX_PASSWORD:
        raise InvalidInput(gettext("a password is at most %(max_password)s characters", max_password=MAX_PASSWORD))
    return value


def _not_self(actor: Actor, user_id: DbId, refusal: str) -> None:
    # An administrator who removes their own access can't undo it from the console.
    if actor.id == str(user_id):
        raise RuleViolation(gettext(refusal))


# -- staff ------------------------------------------------------------------------------------


@router.get("/staff", response_class=HTMLResponse)
def staff_list(request: Request, db: DbSession, _: StaffAdmin, done: str | None = None) -> Response:
    return render(
        request,
        "console/staff.html",
        {
            "users": queries.staff_users(db),
            "roles": list(Role),
            "role_notes": ROLE_NOTES,
            "min_password": MIN_PASSWORD,
            "done": done_message(done),
        },
    )


@router.post("/staff")
def staff_create(
    request: Request,
    db: DbSession,
    actor: StaffAdmin,
    csrf_token: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default for each request
) -> Response:
    verify_csrf(request, csrf_token)
    mail = optional_text(email, label=N_("the e-mail"), max_len=320)
    if mail is not None and not EMAIL_RE.match(mail):
        raise InvalidInput(gettext("the e-mail does not look like an address (name@example.org)"))
    user = actions.create_staff_user(
        db,
        actor=actor,
        username=text(username, label=N_("the user name"), max_len=80).lower(),
        display_name=optional_text(display_name, label=N_("the display name"), max_len=200),
        email=mail,
        roles=_roles(roles),
        password=_password(password, required=False),
    )
    return see_other(f"/console/staff/{user.id}?done=staff-created")


@router.get("/staff/{user_id}", response_class=HTMLResponse)
def staff_page(request: Request, user_id: DbId, db: DbSession, actor: StaffAdmin, done: str | None = None) -> Response:
    user = queries.staff_user(db, user_id)
    return render(
        request,
        "console/staff_user.html",
        {
            "user": user,
            "roles": list(Role),
            "role_notes": ROLE_NOTES,
            "min_password": MIN_PASSWORD,
            "is_self": actor.id == str(user.id),
            "done": done_message(done),
            "history": queries.custody_log(db, subject_type="staff_user", subject_id=user.id, limit=50),
        },
    )


@router.post("/staff/{user_id}/roles")
def staff_roles(
    request: Request,
    user_id: DbId,
    db: DbSession,
    actor: StaffAdmin,
    csrf_token: Annotated[str, Form()] = "",
    roles: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default for each request
) -> Response:
    verify_csrf(request, csrf_token)
    user = queries.staff_user(db, user_id)
    if actor.id == str(user.id) and Role.admin.value not in roles:
        _not_self(
            actor, user.id, N_("you can't remove the admin role from your own account; ask another administrator")
        )
    actions.set_staff_roles(db, actor=actor, user=user, roles=_roles(roles))
    return see_other(f"/console/staff/{user.id}?done=roles-changed")


@router.post("/staff/{user_id}/deactivate")
def staff_deactivate(
    request: Request,
    user_id: DbId,
    db: DbSession,
    actor: StaffAdmin,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    user = queries.staff_user(db, user_id)
    _not_self(actor, user.id, N_("you can't deactivate your own account; ask another administrator"))
    if not user.is_active:
        raise InvalidInput(gettext("%(username)s is already deactivated", username=user.username))
    actions.deactivate_staff_user(
        db, actor=actor, user=user, reason=text(reason, label=N_("the reason"), max_len=500, min_len=5)
    )
    return see_other(f"/console/staff/{user.id}?done=deactivated")


@router.post("/staff/{user_id}/password")
def staff_password(
    request: Request,
    user_id: DbId,
    db: DbSession,
    actor: StaffAdmin,
    csrf_token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    user = queries.staff_user(db, user_id)
    actions.set_staff_password(db, actor=actor, user=user, password=_password(password, required=True) or "")
    return see_other(f"/console/staff/{user.id}?done=password-set")


@router.post("/staff/{user_id}/totp-reset")
def staff_totp_reset(
    request: Request,
    user_id: DbId,
    db: DbSession,
    actor: StaffAdmin,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    user = queries.staff_user(db, user_id)
    reset_totp(db, actor=actor, user=user, reason=text(reason, label=N_("the reason"), max_len=500, min_len=5))
    return see_other(f"/console/staff/{user.id}?done=totp-reset")


# -- API keys ---------------------------------------------------------------------------------


def _scope_choices() -> list[tuple[str, bool]]:
    return [(p.value, p in DEFAULT_API_SCOPES) for p in sorted(API_SCOPES, key=lambda p: p.value)]


@router.get("/api-keys", response_class=HTMLResponse)
def key_list(request: Request, db: DbSession, _: KeyAdmin, done: str | None = None) -> Response:
    return render(
        request,
        "console/api_keys.html",
        {"clients": queries.api_clients(db), "scopes": _scope_choices(), "done": done_message(done)},
    )


@router.post("/api-keys", response_class=HTMLResponse)
def key_create(
    request: Request,
    db: DbSession,
    actor: KeyAdmin,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    scopes: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies the default for each request
) -> Response:
    verify_csrf(request, csrf_token)
    if len(scopes) > len(API_SCOPES):
        raise InvalidInput(gettext("too many scopes"))
    if not scopes:
        raise InvalidInput(gettext("choose at least one scope for the key"))
    new = actions.create_api_client(
        db, actor=actor, name=text(name, label=N_("the key's name"), max_len=120), scopes=scopes
    )
    # The only time the key is shown: the page is not cached (no-store) and not reachable again.
    return render(request, "console/api_keys_created.html", {"client": new.client, "key": new.key}, status_code=201)


@router.post("/api-keys/{client_id}/revoke")
def key_revoke(
    request: Request,
    client_id: DbId,
    db: DbSession,
    actor: KeyAdmin,
    csrf_token: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    client = queries.api_client(db, client_id)
    actions.revoke_api_client(
        db, actor=actor, client=client, reason=text(reason, label=N_("the reason"), max_len=500, min_len=5)
    )
    return see_other("/console/api-keys?done=key-revoked")
