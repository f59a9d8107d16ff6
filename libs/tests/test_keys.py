"""The object-key layout: what a client may commit as one of its files."""

from __future__ import annotations

from shoebox_lib import keys


def test_a_client_may_commit_only_file_objects_under_its_own_prefix() -> None:
    assert keys.owns_key(7, keys.upload_object(7, "e", "up_abc"))
    assert keys.owns_key(7, keys.item_original(7, 3, "up_abc"))
    assert not keys.owns_key(7, keys.upload_object(8, "e", "up_abc"))
    assert not keys.owns_key(7, "u/77/e/up_abc")
    assert not keys.owns_key(7, keys.file_data_object(7, 3, "vid_preview", "pv_1"))  # file data is no file
    assert not keys.owns_key(7, keys.derived(7, 3, "thumb", "jpg"))


def test_ente_holds_are_named_by_the_last_part_of_an_ente_key() -> None:
    assert keys.ente_hold_of(7, keys.upload_object(7, "e", "up_abc")) == "up_abc"
    assert keys.ente_hold_of(7, "u/7/e/") is None
    assert keys.ente_hold_of(7, "u/7/e/a/b") is None
    assert keys.ente_hold_of(7, keys.upload_object(8, "e", "up_abc")) is None
