from __future__ import annotations

import pytest

from shoebox_lib.settings import DEV_SECRET, Settings
from shoebox_lib.web.faces import Face, face_for_path


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


@pytest.mark.parametrize(("path", "face"), [
    ("/v1/images", Face.V1), ("/users/me", Face.CL), ("/users/ott", Face.ENTE), ("/auth/token", Face.CL),
    ("/files/upload-urls", Face.ENTE), ("/entities/1", Face.CL), ("/s3/multipart", Face.UPPY), ("/x", Face.V1),
])
def test_each_path_answers_errors_in_its_face(path: str, face: Face) -> None:
    assert face_for_path(path) is face


def test_error_shapes() -> None:
    ente = Face.ENTE.render(404, "NOT_FOUND", "gone", "r1")
    assert ente == {"code": "NOT_FOUND", "message": "gone", "requestId": "r1"}
    assert Face.CL.render(404, "NOT_FOUND", "gone", "r1")["detail"] == "gone"
    assert Face.V1.render(400, "VALIDATION_ERROR", "bad", "r1", [{"field": "x"}]) == {
        "error": "VALIDATION_ERROR", "message": "bad", "details": [{"field": "x"}], "requestId": "r1"}
