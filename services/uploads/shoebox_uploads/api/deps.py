from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shoebox_uploads.sessions import Uploads


def _uploads(request: Request) -> Uploads:
    uploads: Uploads = request.app.state.uploads
    return uploads


UploadsDep = Annotated[Uploads, Depends(_uploads)]
