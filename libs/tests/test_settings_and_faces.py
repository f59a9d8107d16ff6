from __future__ import annotations

import pytest

from shoebox_lib.settings import DEV_SECRET, Settings
from shoebox_lib.web.access import Access, FaceIndex
from shoebox_lib.web.faces import Face


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(RuntimeError, match="SHOEBOX_SECRET_KEY"):
        Settings(environment="production", secret_key=DEV_SECRET).check_production()
    Settings(environment="production", secret_key="a-real-secret-from-the-operator").check_production()
    Settings(environment="development").check_production()


def test_settings_come_from_shoebox_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOEBOX_BUCKET_COLD", "archive")
    monkeypatch.setenv("SHOEBOX_PRESIGN_EXPIRY_SECONDS", "60")
    settings = Settings()
    assert settings.tiers() == {"primary": "shoebox-primary", "secondary": "shoebox-secondary", "cold": "archive"}
    assert settings.presign_expiry_seconds == 60


def test_every_setting_says_what_it_means() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


@pytest.fixture(scope="module")
def faces() -> FaceIndex:
    """The index the one port renders its own 404s with: the faces of the real services' public routes,
    as their mounts declare them (their apps are built, not started)."""
    from shoebox.routing import declared_routes

    return FaceIndex(route for route in declared_routes() if route.access is not Access.INTERNAL)


@pytest.mark.parametrize(("path", "face"), [
    ("/v1/images", Face.V1), ("/users/me", Face.CL), ("/users/ott", Face.ENTE), ("/auth/token", Face.CL),
    ("/files/upload-urls", Face.ENTE), ("/users/5", Face.CL), ("/s3/multipart", Face.UPPY), ("/x", Face.V1),
])
def test_each_path_answers_errors_in_its_face(faces: FaceIndex, path: str, face: Face) -> None:
    assert faces.face_for(path) is face


def test_error_shapes() -> None:
    ente = Face.ENTE.render(404, "NOT_FOUND", "gone", "r1")
    assert ente == {"code": "NOT_FOUND", "message": "gone", "requestId": "r1"}
    assert Face.CL.render(404, "NOT_FOUND", "gone", "r1")["detail"] == "gone"
    assert Face.V1.render(400, "VALIDATION_ERROR", "bad", "r1", [{"field": "x"}]) == {
        "error": "VALIDATION_ERROR", "message": "bad", "details": [{"field": "x"}], "requestId": "r1"}
