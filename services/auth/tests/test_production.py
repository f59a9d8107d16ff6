import pytest

from shoebox_auth.app import create_service
from shoebox_lib.settings import DEV_SECRET, Settings


def test_auth_refuses_to_start_in_production_on_the_development_secret() -> None:
    with pytest.raises(RuntimeError, match="SHOEBOX_SECRET_KEY is the development default"):
        create_service(Settings(environment="production", secret_key=DEV_SECRET))


def test_auth_starts_in_production_with_a_secret_of_its_own() -> None:
    service = create_service(Settings(environment="production", secret_key="operator-chosen-secret-value-1234"))
    assert service.name == "auth"
