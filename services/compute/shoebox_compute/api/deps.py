"""The one place compute's routes get their cores from, and who may use CL's job API.

The job API follows CL's auth mode, which the store owns (metadata's `store/modes.py`, read through the
internal contract and cached for `library.MODE_CACHE_SECONDS`):
- auth disabled (CL's demo mode): open to everyone, and every job is everyone's;
- otherwise (guest mode or not): `ai_inference_support` is needed (is_admin passes). Guest mode opens the
  store's reads only, never the job API.
A token that is sent is verified first whatever the mode (the mount's `Access.SPACE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request

from shoebox_compute.broker import Broker
from shoebox_compute.container import Container, JobFace
from shoebox_compute.models import Job
from shoebox_lib.auth import OptionalUser
from shoebox_lib.auth.principal import Principal
from shoebox_lib.errors import Forbidden, Unauthenticated

JOB_PERMISSION = "ai_inference_support"
STORE_READ_PERMISSION = "media_store_read"


async def _face(request: Request) -> JobFace:
    return cast(Container, request.app.state.container).jobs


async def _broker(request: Request) -> Broker:
    return cast(Container, request.app.state.container).broker


FaceDep = Annotated[JobFace, Depends(_face)]
BrokerDep = Annotated[Broker, Depends(_broker)]


@dataclass(frozen=True)
class JobCaller:
    """Who calls the job API: a person (None when auth is disabled and no token came), and whether the
    mode opens every job to everyone."""

    principal: Principal | None
    open: bool
    store_readable: bool  # may read CL's store (its entities as job inputs)

    @property
    def user_id(self) -> int | None:
        return self.principal.user_id if self.principal else None

    def sees(self, job: Job) -> bool:
        """Their own jobs; an admin's are all of them (as are everyone's with auth disabled)."""
        if self.open or (self.principal is not None and self.principal.is_admin):
            return True
        return self.principal is not None and job.created_by == self.principal.user_id


async def _job_caller(face: FaceDep, caller: OptionalUser) -> JobCaller:
    mode = await face.library.store_mode()
    store_readable = mode.auth_disabled or not mode.read_auth_enabled or (
        caller is not None and caller.can(STORE_READ_PERMISSION))
    if mode.auth_disabled:
        return JobCaller(caller, open=True, store_readable=store_readable)
    if caller is None:
        raise Unauthenticated("Authentication required")
    if not caller.can(JOB_PERMISSION):
        raise Forbidden(f"Insufficient permissions. Required: {JOB_PERMISSION}")
    return JobCaller(caller, open=False, store_readable=store_readable)


JobCallerDep = Annotated[JobCaller, Depends(_job_caller)]
