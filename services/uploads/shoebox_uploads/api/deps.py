from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shoebox_uploads.ente import EnteUploads
from shoebox_uploads.sessions import Uploads
from shoebox_uploads.uppy import UppyUploads


def _uploads(request: Request) -> Uploads:
    uploads: Uploads = request.app.state.uploads
    return uploads


def _ente(request: Request) -> EnteUploads:
    return EnteUploads(_uploads(request))


def _uppy(request: Request) -> UppyUploads:
    return UppyUploads(_uploads(request))


UploadsDep = Annotated[Uploads, Depends(_uploads)]
EnteDep = Annotated[EnteUploads, Depends(_ente)]
UppyDep = Annotated[UppyUploads, Depends(_uppy)]
