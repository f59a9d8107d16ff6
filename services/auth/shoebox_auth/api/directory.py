"""Finding another user to share with: Ente's `GET /users/public-key?email=`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shoebox_auth.api.deps import DirectoryDep
from shoebox_auth.api.ente_models import PublicKeyAnswer
from shoebox_lib.web.inputs import Text

router = APIRouter(tags=["directory"])


@router.get("/users/public-key")
async def public_key(directory: DirectoryDep,
                     email: Annotated[Text, Query(min_length=3, max_length=320)]) -> PublicKeyAnswer:
    """Signed-in callers only, as Ente does: a sharer needs the sharee's public key to seal the album key."""
    listing = await directory.by_email(email)
    return PublicKeyAnswer(userID=listing.user_id, publicKey=listing.public_key or "")
