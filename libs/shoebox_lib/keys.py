"""The object-key layout, written once. Every key is chosen by the server.

- `u/<owner>/…` holds what a user uploaded; a client may commit only keys under its own prefix:
  - `u/<owner>/i/<item>/<session>/original`: a v1 or Uppy upload of an item;
  - `u/<owner>/<folder>/<session>`: an upload not yet tied to an item (`e` for Ente, `uppy`);
  - `u/<owner>/p/<collection>/…`: what guests of a public link upload into that collection;
  - `u/<owner>/fd/<item>/<type>/<object>`: Ente file data (preview videos and images) of an item;
- `s/<space>/o/<upload>`: a file uploaded into a shared space (CL's store) through the API;
- `d/<owner>/i/<item>/<name>.<ext>`: what compute derived from an item (thumbnails and the like);
- `j/<job>/<path>`: a compute job's own files (`input/…` as given to the job API, `output/…` as made).
"""

from __future__ import annotations


def user_prefix(owner_id: int) -> str:
    return f"u/{owner_id}/"


def item_original(owner_id: int, item_id: int, session_id: str) -> str:
    """Fresh per session, so a retried upload never collides with an earlier one."""
    return f"{user_prefix(owner_id)}i/{item_id}/{session_id}/original"


def upload_object(owner_id: int, folder: str, session_id: str) -> str:
    return f"{user_prefix(owner_id)}{folder}/{session_id}"


def link_prefix(owner_id: int, collection_id: int) -> str:
    """Where a public link's guests upload into a collection: the only prefix their commits may use."""
    return f"{user_prefix(owner_id)}p/{collection_id}/"


def ente_hold_of(owner_id: int, key: str) -> str | None:
    """Ente V2 uploads hold their bytes under the upload session's id, the last part of the key."""
    prefix = f"{user_prefix(owner_id)}e/"
    rest = key[len(prefix):]
    return rest if key.startswith(prefix) and rest and "/" not in rest else None


FILE_DATA_FOLDER = "fd"


def file_data_object(owner_id: int, item_id: int, kind: str, object_id: str) -> str:
    return f"{user_prefix(owner_id)}{FILE_DATA_FOLDER}/{item_id}/{kind}/{object_id}"


def owns_key(owner_id: int, key: str) -> bool:
    """Whether a client may commit `key` as one of its files: handed out under its prefix, and not an
    object that belongs to another kind of record (file data)."""
    return key.startswith(user_prefix(owner_id)) and not key.startswith(
        f"{user_prefix(owner_id)}{FILE_DATA_FOLDER}/")


def space_original(space_id: int, upload_id: str) -> str:
    """Fresh per upload: a replaced file's new bytes never overwrite the old ones while they are in use."""
    return f"s/{space_id}/o/{upload_id}"


def derived(owner_id: int, item_id: int, name: str, extension: str) -> str:
    return f"d/{owner_id}/i/{item_id}/{name}.{extension}"


def job_file(job_id: str, path: str) -> str:
    """`path` is the job's own name for the file (`input/photo.jpg`, `output/thumb.jpg`); callers check it."""
    return f"j/{job_id}/{path}"
