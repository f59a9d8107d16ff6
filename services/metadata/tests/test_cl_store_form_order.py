"""A CL form may send its file before its fields: the store then learns what the form makes only after the
bytes have been stored, and must still leave nothing behind when the form is refused."""

from __future__ import annotations

from shoebox.testing import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSystem
from shoebox.testing.cl_client import ClClient, detail_of

BOUNDARY = "shoeboxformorder"


def file_first(fields: dict[str, str], content: bytes) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="media_file"; filename="a.bin"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"]
    parts += [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
              for name, value in fields.items()]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def stored_keys(api: RunningSystem) -> list[str]:
    storage = api.services["metadata"].app.state.runtime.storage
    return sorted([o.key async for o in storage.primary.list_objects("s/")])


async def test_a_file_sent_before_the_fields_that_refuse_it_leaves_nothing(api: RunningSystem) -> None:
    cl = ClClient(api.client)
    await cl.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    headers = {**await cl.headers(), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    before = await stored_keys(api)
    refused = await api.client.post("/entities", headers=headers,
                                    content=file_first({"is_collection": "true", "label": "x"}, b"bytes" * 100))
    assert (refused.status_code, detail_of(refused)) == (422, "A collection cannot have a file")
    missing_parent = await api.client.post("/entities", headers=headers, content=file_first(
        {"is_collection": "false", "parent_id": "999999999"}, b"other bytes" * 100))
    assert missing_parent.status_code == 422
    assert await stored_keys(api) == before

    accepted = await api.client.post("/entities", headers=headers,
                                     content=file_first({"is_collection": "false", "label": "late"}, b"ok" * 50))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["label"] == "late"
    assert len(await stored_keys(api)) == len(before) + 1
