"""What every service's HTTP side shares: app factory, request ids, error shapes, health and metrics."""

from shoebox_lib.web.app import ServiceApp, create_app
from shoebox_lib.web.faces import Face
from shoebox_lib.web.health import HealthCheck

__all__ = ["Face", "HealthCheck", "ServiceApp", "create_app"]
