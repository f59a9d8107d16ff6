"""What other Shoebox services ask auth (the internal contract, `shoebox_lib.contracts`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shoebox_auth.api.deps import DirectoryDep
from shoebox_lib.contracts import USER_BY_EMAIL_PATH, UserKey
from shoebox_lib.web.inputs import Text

router = APIRouter(tags=["internal"])


@router.get(USER_BY_EMAIL_PATH)
async def user_by_email(directory: DirectoryDep,
                        email: Annotated[Text, Query(min_length=3, max_length=320)]) -> UserKey:
    """An active account by its address (metadata, sharing with someone); an unknown address is a 404."""
    listing = await directory.by_email(email)
    return UserKey(user_id=listing.user_id, email=listing.email, public_key=listing.public_key)
