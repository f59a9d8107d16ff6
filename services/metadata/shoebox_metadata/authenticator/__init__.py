"""Ente Auth (the 2FA app): a user's Auth key and their codes, end-to-end encrypted by the client and kept
exactly as sent, with a diff that never misses or repeats a change."""
