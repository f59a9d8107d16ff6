"""`shoebox config` prints every setting, shared and each service's own, with its environment variable, its
current value with secrets masked, and where the value came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from shoebox.config_report import MASK, mask, mask_url

SECRET = "a-secret-nobody-may-read-in-a-terminal"
DB_PASSWORD = "database-password-in-the-url"


def run_config(tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    env.update({
        "SHOEBOX_LOG_LEVEL": "DEBUG",
        "SHOEBOX_SECRET_KEY": SECRET,
        "SHOEBOX_DATABASE_URL": f"postgresql://shoebox:{DB_PASSWORD}@db.example:5432/shoebox",
        "SHOEBOX_UPLOADS_SESSION_SECONDS": "7200",
    })
    done = subprocess.run([sys.executable, "-m", "shoebox", "config", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout
    assert DB_PASSWORD not in done.stdout
    return done.stdout


def test_config_as_json(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = json.loads(run_config(tmp_path, "--json"))
    by_env = {row["env"]: row for row in rows}
    assert len(by_env) == len(rows), "one row per environment variable"

    assert by_env["SHOEBOX_LOG_LEVEL"].items() >= {"value": "DEBUG", "source": "environment", "scope": "shared"}.items()
    assert (by_env["SHOEBOX_SECRET_KEY"]["value"], by_env["SHOEBOX_SECRET_KEY"]["source"]) == (MASK, "environment")
    assert by_env["SHOEBOX_DATABASE_URL"]["value"] == f"postgresql://shoebox:{MASK}@db.example:5432/shoebox"
    assert by_env["SHOEBOX_BUCKET_PRIMARY"].items() >= {"value": "shoebox-primary", "default": "shoebox-primary",
                                                     "source": "default"}.items()
    assert by_env["SHOEBOX_ADMIN_PASSWORD"]["value"] is None

    # Each service's own settings, under its own prefix.
    scopes = {row["scope"] for row in rows}
    assert "shared" in scopes
    for row in rows:
        prefix = "SHOEBOX_" if row["scope"] == "shared" else f"SHOEBOX_{row['scope'].upper()}_"
        assert row["env"].startswith(prefix), row
        assert row["description"], f"{row['env']} says what it means and what its default is"
    if "uploads" in scopes:
        assert by_env["SHOEBOX_UPLOADS_SESSION_SECONDS"].items() >= {"value": 7200, "source": "environment"}.items()


def test_config_as_text(tmp_path: Path) -> None:
    lines = run_config(tmp_path).splitlines()
    log_level = next(line for line in lines if line.startswith("SHOEBOX_LOG_LEVEL "))
    assert log_level.split() == ["SHOEBOX_LOG_LEVEL", "DEBUG", "(environment)"]
    secret = next(line for line in lines if line.startswith("SHOEBOX_SECRET_KEY "))
    assert secret.split() == ["SHOEBOX_SECRET_KEY", MASK, "(environment)"]
    bucket = next(line for line in lines if line.startswith("SHOEBOX_BUCKET_PRIMARY "))
    assert bucket.split() == ["SHOEBOX_BUCKET_PRIMARY", "shoebox-primary", "(default)"]
    assert "# shared" in lines


def test_what_is_masked() -> None:
    assert mask("secret_key", "x") == MASK
    assert mask("s3_secret_access_key", "x") == MASK
    assert mask("smtp_password", "x") == MASK
    assert mask("admin_password", None) is None, "an unset secret shows as unset"
    assert mask("access_token_ttl_seconds", 3600) == 3600, "a number is no secret"
    assert mask("log_level", "INFO") == "INFO"
    assert mask_url("nats://user:pw@nats:4222") == f"nats://user:{MASK}@nats:4222"
    assert mask_url("nats://a-token@nats:4222") == f"nats://{MASK}@nats:4222"
    assert mask_url("postgresql://db/x?sslpassword=pw&sslmode=require") == (
        f"postgresql://db/x?sslpassword={MASK}&sslmode=require")
    assert mask("public_url", "http://127.0.0.1:8000") == "http://127.0.0.1:8000"
