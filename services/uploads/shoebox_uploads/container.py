"""What the upload signer's routes and background tasks share: its cores, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_lib.db import Database
from shoebox_lib.storage import StorageDriver
from shoebox_uploads.settings import UploadsSettings
from shoebox_uploads.signer.ente import EnteUploads
from shoebox_uploads.signer.library import Library
from shoebox_uploads.signer.sessions import Uploads
from shoebox_uploads.signer.sweeper import Sweeper
from shoebox_uploads.signer.uppy import UppyUploads


@dataclass(frozen=True)
class Container:
    uploads: Uploads
    ente: EnteUploads
    uppy: UppyUploads
    sweeper: Sweeper
    # Where clients reach Shoebox: the Uppy face answers with the v1 address of what an upload became.
    public_url: str

    @classmethod
    def build(cls, db: Database, driver: StorageDriver, library: Library, settings: UploadsSettings, *,
              presign_seconds: int, public_url: str) -> Container:
        uploads = Uploads(db, driver, library, presign_seconds, settings)
        return cls(uploads=uploads, ente=EnteUploads(uploads), uppy=UppyUploads(uploads),
                   sweeper=Sweeper(uploads, settings), public_url=public_url.rstrip("/"))
