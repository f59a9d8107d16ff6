"""The one place routes get the signer's cores from: the service's typed container."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from shoebox_uploads.container import Container
from shoebox_uploads.signer.ente import EnteUploads
from shoebox_uploads.signer.sessions import Uploads
from shoebox_uploads.signer.uppy import UppyUploads


def container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


async def uploads(request: Request) -> Uploads:
    return container(request).uploads


async def ente(request: Request) -> EnteUploads:
    return container(request).ente


async def uppy(request: Request) -> UppyUploads:
    return container(request).uppy


async def public_url(request: Request) -> str:
    return container(request).public_url


UploadsDep = Annotated[Uploads, Depends(uploads)]
EnteDep = Annotated[EnteUploads, Depends(ente)]
UppyDep = Annotated[UppyUploads, Depends(uppy)]
PublicUrlDep = Annotated[str, Depends(public_url)]
