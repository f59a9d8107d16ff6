"""Uppy in a real browser: `@uppy/core` and `@uppy/aws-s3` (Companion mode, bundled with esbuild) in headless
Debian Chromium, driven by `playwright-core`, upload through the Uppy face straight to the S3 endpoint
(moto), pausing and resuming one file and cancelling another.

The page is served at the system's own origin (run.mjs intercepts `/uppy-test/…`), so only the bucket
needs CORS, which `shoebox cors` sets. Chromium comes from Debian (`apt-get install chromium`) and the
npm packages from `npm ci` in tests-e2e/uppy; `.ci/run` installs both.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shoebox.testing import RunningSystem, run_system
from shoebox.testing.flow import bearer
from shoebox_lib.settings import Settings

HERE = Path(__file__).parent / "uppy"
CHROMIUM = "/usr/bin/chromium"
MiB = 1024 * 1024


def missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
    if not shutil.which("node"):
        return "node is not installed (apt-get install nodejs npm; .ci/run does it)"
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        return "the npm packages are not installed (npm ci in tests-e2e/uppy; .ci/run does it)"
    return None


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment under which `shoebox` commands see the same storage as this system."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    for name in ("storage_driver", "s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key",
                 "bucket_primary", "bucket_secondary", "data_dir"):
        value = getattr(settings, name)
        if value is not None:
            env[f"SHOEBOX_{name.upper()}"] = str(value)
    return env


@pytest.fixture
async def s3_system(system_settings: Callable[..., Settings], s3_settings: dict[str, Any]
                    ) -> AsyncIterator[RunningSystem]:
    async with run_system(system_settings(**s3_settings)) as running:
        yield running


async def test_the_cors_command_exposes_etag_on_every_bucket(s3_system: RunningSystem) -> None:
    origin = s3_system.settings.public_url
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "shoebox", "cors", "--origin", origin],
        env=settings_env(s3_system.settings), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "exposes ETag, Location" in done.stdout
    storage = s3_system.services["uploads"].app.state.runtime.storage
    for driver in storage.tiers.values():
        rules = await driver.get_cors()
        assert [(r.allowed_origins, r.expose_headers) for r in rules] == [([origin], ["ETag", "Location"])]


async def test_uppy_uploads_pauses_resumes_and_cancels_in_chromium(s3_system: RunningSystem, tmp_path: Path
                                                                   ) -> None:
    reason = missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {reason}")
    if reason:
        pytest.skip(reason)
    system = s3_system
    origin = system.settings.public_url
    storage = system.services["uploads"].app.state.runtime.storage
    for driver in storage.tiers.values():
        from shoebox_lib.storage.base import browser_upload_cors

        await driver.set_cors(browser_upload_cors([origin]))
    built = await asyncio.to_thread(
        subprocess.run, [str(HERE / "node_modules" / ".bin" / "esbuild"), "entry.mjs", "--bundle", "--format=esm",
                         "--minify", "--outfile=dist/uppy-bundle.mjs"],
        cwd=HERE, capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr

    token = await system.user_token("uppy")
    data = os.urandom(12 * MiB)
    (tmp_path / "file.bin").write_bytes(data)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"origin": origin, "token": token, "file": str(tmp_path / "file.bin"),
                                  "chromium": CHROMIUM}))
    proc = await asyncio.create_subprocess_exec("node", str(HERE / "run.mjs"), str(config), cwd=HERE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, f"run.mjs printed nothing useful: {out.decode()[-2000:]} {err.decode()[-2000:]}"
    result = json.loads(lines[-1])
    assert result["ok"], json.dumps(result, indent=1)

    events, calls = result["events"], result["calls"]
    assert "paused keep.bin" in events
    assert "resumed keep.bin" in events
    assert "cancelled drop.bin" in events
    assert "success keep.bin" in events
    assert "success drop.bin" not in events
    # Resuming asked the signer which parts storage already had (listParts: GET /s3/multipart/{id}).
    assert any(c.startswith("GET /s3/multipart/") and c.count("/") == 3 for c in calls), calls
    assert any(c.startswith("DELETE /s3/multipart/") for c in calls), calls

    key = result["body"]["key"]
    assert await storage.primary.get_bytes(key) == data  # byte-identical
    image_id = result["body"]["location"].rsplit("/", 1)[1]
    async with asyncio.timeout(30):
        while (image := (await system.client.get(f"/v1/images/{image_id}", headers=bearer(token))).json())[
                "status"] == "upload_pending":
            await asyncio.sleep(0.1)
    assert (image["filename"], image["original"]["size_bytes"]) == ("keep.bin", len(data))

    dropped = result["dropUpload"]
    session = await system.services["uploads"].app.state.container.uploads.get(
        (await system.services["uploads"].app.state.runtime.verifier.verify(token)).user_id, dropped["uploadId"])
    assert session.status == "aborted"
