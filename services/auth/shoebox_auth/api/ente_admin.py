"""Ente's admin routes, as the `ente admin` commands of Ente's CLI call them (ente-io/ente
`cli/internal/api/admin.go`; the server's `server/pkg/api/admin.go`), for Shoebox's admins.

Mounted `Access.ADMIN`: the shared guard lets only admin tokens through. Ente's server refuses a signed-in
non-admin with its middleware's 401 `{"error": "insufficient permissions"}` rather than an API error, and
its CLI prints that answer, so `install_admin_refusal` answers the guard's refusal that way on these routes
(the one place the Ente face leaves `{code, message}`, because the real server does).

The CLI asks `/admin/users/` and `/admin/user/` with a trailing slash (Ente's router redirects them), so
both spellings are served.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, Field

from shoebox_auth.api.deps import EnteDep
from shoebox_auth.api.ente import render_details
from shoebox_auth.api.ente_admin_models import AdminUser, DeletedAccount, UserList, ente_user, token_info
from shoebox_auth.api.ente_models import Empty, Subscription
from shoebox_auth.ente.admin import OutgoingMail
from shoebox_auth.ente.plans import Plan
from shoebox_lib.auth import AdminUser as Admin
from shoebox_lib.errors import Forbidden, InvalidInput, ShoeboxError, UpstreamUnavailable
from shoebox_lib.web.access import Access
from shoebox_lib.web.faces import Face
from shoebox_lib.web.inputs import BIGINT_MAX, Id64, Int64, Text, bounded_json

router = APIRouter(tags=["ente-admin"])

INSUFFICIENT_PERMISSIONS = {"error": "insufficient permissions"}


def install_admin_refusal(app: FastAPI) -> None:
    """On Ente-face ADMIN routes, the guard's Forbidden becomes Ente's 401; every other Forbidden is
    answered as before (these routes raise none of their own)."""
    default = app.exception_handlers[ShoeboxError]

    async def refuse(request: Request, exc: Exception) -> Response:
        route = request.scope.get("route")
        if getattr(route, "face", None) is Face.ENTE and getattr(route, "access", None) is Access.ADMIN:
            return JSONResponse(INSUFFICIENT_PERMISSIONS, status_code=401)
        answer = default(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(Forbidden, refuse)


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be one line")
    return value


Line = Annotated[Text, AfterValidator(_one_line)]  # a mail header: a line break would start another
Email = Annotated[Line, Field(min_length=3, max_length=320)]


class UserIdBody(BaseModel):
    userID: Id64


class EmailMfaBody(BaseModel):
    userID: Id64
    emailMFA: bool | None = None


class SubscriptionBody(BaseModel):
    """Ente's `UpdateSubscriptionRequest`: every field but the provider and attributes required and not zero."""

    userID: Id64
    storage: Annotated[int, Field(ge=1, le=BIGINT_MAX)]
    transactionID: Annotated[Text, Field(min_length=1, max_length=200)]
    productID: Annotated[Text, Field(min_length=1, max_length=100)]
    expiryTime: Annotated[int, Field(ge=1, le=BIGINT_MAX)]  # microseconds since the epoch
    paymentProvider: Annotated[Text, Field(max_length=100)] = ""
    attributes: Annotated[dict[str, Any], bounded_json(4096)] = Field(default_factory=dict)


class MailBody(BaseModel):
    to: Annotated[list[Email], Field(min_length=1, max_length=50)]
    fromName: Annotated[Line, Field(min_length=1, max_length=200)]
    fromEmail: Email
    subject: Annotated[Line, Field(min_length=1, max_length=998)]
    body: Annotated[Text, Field(min_length=1, max_length=100_000)]


@router.get("/admin/users")
@router.get("/admin/users/")
async def list_users(admin: Admin, ente: EnteDep,
                     since_time: Annotated[Int64, Query(alias="sinceTime")]) -> UserList:
    """Accounts with an address created after `sinceTime` (µs), oldest first."""
    await ente.admin.require_fresh(admin)
    return UserList(users=[ente_user(user) for user in await ente.admin.users_since(since_time)])


@router.get("/admin/user", response_model_exclude_unset=True)
@router.get("/admin/user/", response_model_exclude_unset=True)
async def get_user(admin: Admin, ente: EnteDep,
                   email: Annotated[Text | None, Query(max_length=320)] = None,
                   user_id: Annotated[Id64 | None, Query(alias="id")] = None) -> AdminUser:
    """By `email`, else by `id`. `details` is left out when metadata cannot say what the account stores,
    as Ente leaves out any part it could not look up."""
    if email is not None and email.strip():
        user = await ente.admin.find(email=email)
    elif user_id is not None:
        user = await ente.admin.find(user_id=user_id)
    else:
        raise InvalidInput("email or id is required", code="BAD_REQUEST")
    plan = await ente.admin.plans.of(user.id)
    answer = AdminUser(
        user=ente_user(user, full=True),
        subscription=Subscription(
            id=0, userID=user.id, productID=plan.product_id, storage=plan.storage,
            originalTransactionID=plan.transaction_id, expiryTime=plan.expiry_time,
            paymentProvider=plan.payment_provider, attributes=plan.attributes, price="", period="year"),
        tokens=[token_info(row) for row in await ente.admin.tokens(user.id)],
    )
    if user.is_active:
        with contextlib.suppress(UpstreamUnavailable):
            answer.details = render_details(await ente.details.of_user(user.id), memory_count=False)
    return answer


@router.delete("/admin/user/delete")
async def delete_user(admin: Admin, ente: EnteDep,
                      email: Annotated[Text, Query(max_length=320)] = "") -> DeletedAccount:
    """The account, its sessions, and (through `user.deleted`) its library and objects."""
    await ente.admin.require_fresh(admin)
    if not email.strip():
        raise InvalidInput("email id is missing", code="BAD_REQUEST")
    return DeletedAccount(isSubscriptionCancelled=False, userID=await ente.admin.delete(email))


@router.post("/admin/user/disable-2fa")
async def disable_two_factor(body: UserIdBody, admin: Admin, ente: EnteDep) -> Empty:
    await ente.admin.require_fresh(admin)
    await ente.admin.disable_two_factor(body.userID)
    return Empty()


@router.post("/admin/user/disable-passkeys")
async def disable_passkeys(body: UserIdBody, admin: Admin, ente: EnteDep) -> Empty:
    await ente.admin.remove_passkeys(body.userID)
    return Empty()


@router.post("/admin/user/update-email-mfa")
async def update_email_mfa(body: EmailMfaBody, admin: Admin, ente: EnteDep) -> Empty:
    if body.emailMFA is None:
        raise InvalidInput("emailMFA is required", code="BAD_REQUEST")
    await ente.admin.set_email_mfa(body.userID, body.emailMFA)
    return Empty()


@router.put("/admin/user/subscription")
async def update_subscription(body: SubscriptionBody, admin: Admin, ente: EnteDep) -> Empty:
    """Replaces the account's plan; metadata applies the allowance when `account.quota_set` reaches it."""
    await ente.admin.set_plan(body.userID, Plan(
        storage=body.storage, expiry_time=body.expiryTime, product_id=body.productID,
        transaction_id=body.transactionID, payment_provider=body.paymentProvider, attributes=body.attributes))
    return Empty()


@router.post("/admin/mail")
async def send_mail(body: MailBody, admin: Admin, ente: EnteDep) -> Empty:
    """Through the installation's mailer (SMTP, or the log without one)."""
    await ente.admin.send_mail(OutgoingMail(to=body.to, from_name=body.fromName, from_email=body.fromEmail,
                                            subject=body.subject, body=body.body))
    return Empty()
