"""The store's space: an owner that is not a person.

People's ids are positive; a space's is not, so no account can ever own, sign in as, or be deleted into
the store. Everything else about its items and collections is the library's ordinary rows and pipeline.
"""

from __future__ import annotations

STORE_SPACE = -1
