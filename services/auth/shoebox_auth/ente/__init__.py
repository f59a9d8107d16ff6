"""Ente sign-in: one-time codes by email (`email_signin`), SRP with Ente's own variant (`srp_signin`,
arithmetic in `srp`), key attributes, sealed tokens (`accounts`, `sealing`) and account details.

The core (assembled in `service.EnteAuth`) knows nothing of HTTP; `shoebox_auth.api.ente` is its face.
"""
