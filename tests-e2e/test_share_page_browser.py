"""A v1 share link in a real browser: headless Debian Chromium opens `<public_url>/s/<token>` and the page
shows the image. The image is a solid colour, so the screenshot Chromium takes proves it was drawn: most of
the page's image area is that colour. Chromium comes from Debian (`apt-get install chromium`); `.ci/run`
installs it, and under CI this test fails rather than skips without it."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest
from PIL import Image

from shoebox.testing import RunningSystem
from shoebox.testing.flow import bearer, upload, wait_processed

CHROMIUM = "/usr/bin/chromium"
RED = (220, 20, 30)
WINDOW = (1280, 1000)


def solid_jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), RED).save(out, format="JPEG", quality=95)
    return out.getvalue()


def share_of_colour(shot: Path, colour: tuple[int, int, int], tolerance: int = 40) -> float:
    """How much of the screenshot is (near) `colour`."""
    with Image.open(shot) as image:
        data = image.convert("RGB").tobytes()
    pixels = len(data) // 3
    near = sum(1 for i in range(0, len(data), 3)
               if all(abs(data[i + c] - colour[c]) <= tolerance for c in range(3)))
    return near / pixels


async def screenshot(url: str, out: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=10000", f"--screenshot={out}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(120):
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    assert out.exists(), stderr.decode(errors="replace")[-2000:]


async def test_the_share_page_shows_the_image_in_chromium(api: RunningSystem, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        reason = f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    token = await api.user_token("wes")
    uploaded = await upload(api.client, token, solid_jpeg(1600, 1200), filename="red.jpg",
                            content_type="image/jpeg", title="Red")
    await wait_processed(api.client, token, uploaded.image_id)
    share = await api.client.post(f"/v1/images/{uploaded.image_id}/shares", headers=bearer(token), json={})
    assert share.status_code == 201, share.text

    shot = tmp_path / "share.png"
    await screenshot(share.json()["url"], shot)
    red = await asyncio.to_thread(share_of_colour, shot, RED)
    # The medium variant (1280 wide) fills the page's width below the title: well over a third of the shot.
    assert red > 0.35, f"only {red:.1%} of the page is the image's colour"

    # Revoked, the same URL shows no image.
    await api.client.delete(f"/v1/images/{uploaded.image_id}/shares/{share.json()['share_id']}",
                            headers=bearer(token))
    revoked = tmp_path / "revoked.png"
    await screenshot(share.json()["url"], revoked)
    assert await asyncio.to_thread(share_of_colour, revoked, RED) < 0.01
