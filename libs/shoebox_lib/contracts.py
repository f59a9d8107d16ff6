"""The internal contract: every synchronous question one Shoebox service asks another, as typed requests
and answers, and the path each is asked on. Served under `/internal/` (see `shoebox_lib.internal`) and
never through a client-facing face, so a change to a face breaks no other service.

Where nobody waits for the answer, services use events instead (`shoebox_lib.events`).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# Ids travel as integers; bounded so that no value past PostgreSQL's bigint reaches a query.
Id = int
BIGINT_MAX = 2**63 - 1


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- metadata: asked by uploads --------------------------------------------------------------------

ITEM_PATH = "/internal/metadata/items/{item_id}"  # GET ?owner_id=: what an upload may fill
ITEMS_PATH = "/internal/metadata/items"  # POST NewUploadItem: an item for an upload that came without one
HOLDS_PATH = "/internal/metadata/holds"  # POST HoldRequest: hold quota for an upload session
USAGE_PATH = "/internal/metadata/usage/{owner_id}"  # GET: what an owner stores and may still store
LINK_PATH = "/internal/metadata/links/resolve"  # POST LinkCredentials: what a public link opens
AWAITING_PATH = "/internal/metadata/items/awaiting"  # POST ItemRefs: which of these still await their upload


class UploadTarget(Contract):
    """An item of `owner_id` as declared before its upload: a different owner's item is a 404."""

    item_id: Id
    owner_id: Id
    status: str  # metadata's item status (`upload_pending` until an upload fills it)
    size: int = Field(ge=0)
    content_type: str | None = None


class ItemRef(Contract):
    owner_id: Id = Field(ge=1, le=BIGINT_MAX)
    item_id: Id = Field(ge=0, le=BIGINT_MAX)


class ItemRefs(Contract):
    """Items asked about at once (the upload sweeper's completions not yet confirmed); bounded per call."""

    items: list[ItemRef] = Field(max_length=500)


class AwaitingItems(Contract):
    """Of the items asked about, those that are their owner's and still wait for their upload; an item of
    another owner, a missing one and a filled one are all simply absent."""

    item_ids: list[Id]


class NewUploadItem(Contract):
    owner_id: Id = Field(ge=1, le=BIGINT_MAX)
    filename: str = Field(min_length=1, max_length=1024)
    content_type: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0, le=BIGINT_MAX)


class HoldRequest(Contract):
    """Hold `bytes` of the owner's quota for upload session `hold_id`. Idempotent per id; the hold ends
    with its upload (`upload.completed` consumes it, `upload.ended` gives it back) or lapses."""

    owner_id: Id = Field(ge=1, le=BIGINT_MAX)
    hold_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    bytes: int = Field(ge=0, le=BIGINT_MAX)


class Hold(Contract):
    hold_id: str
    expires_at: datetime


class Usage(Contract):
    owner_id: Id
    used: int
    reserved: int
    quota: int
    available: int
    file_count: int


class LinkCredentials(Contract):
    access_token: str = Field(min_length=1, max_length=512)
    access_jwt: str | None = Field(default=None, max_length=4096)


class LinkGrant(Contract):
    """What a valid public link opens: expired (410), revoked or password-locked (401) links are refused."""

    collection_id: Id
    owner_id: Id
    enable_collect: bool


# --- auth: asked by metadata --------------------------------------------------------------------------

USER_BY_EMAIL_PATH = "/internal/auth/users/by-email"  # GET ?email=: whom to share with


class UserKey(Contract):
    user_id: Id
    email: str
    public_key: str | None = None


# --- metadata: asked by compute (CL's job API) --------------------------------------------------------

STORE_MODE_PATH = "/internal/metadata/store/mode"  # GET: CL's store auth mode, which CL's job API follows
ITEM_SOURCE_PATH = "/internal/metadata/items/{item_id}/source"  # GET ?reader_id=&store=: bytes a job may read


class StoreMode(Contract):
    """CL's auth mode as the store keeps it: auth disabled (everything open), and whether reads need a token."""

    auth_disabled: bool
    read_auth_enabled: bool


class ItemSource(Contract):
    """A stored, readable (not end-to-end-encrypted) item's original, for a job to read. Asked with the
    reader's user id (none when CL's auth is disabled) and whether that reader may read CL's store: an
    item of the store's space needs `store`, any other item needs its owner as the reader; anything else
    is a 404, like a missing item."""

    item_id: Id
    owner_id: Id
    object_key: str
    content_type: str | None = None
    size: int = Field(ge=0)
