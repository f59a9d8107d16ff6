"""Ente sign-in: one-time codes by email, SRP with Ente's own variant, key attributes, sealed tokens.

The core (`service.EnteAuth`) knows nothing of HTTP; `shoebox_auth.api.ente` is its face.
"""
