"""The replicator's cores, built once in `app.create_service`."""

from __future__ import annotations

from dataclasses import dataclass

from shoebox_replicator.copier import Copier


@dataclass(frozen=True)
class Container:
    copier: Copier
