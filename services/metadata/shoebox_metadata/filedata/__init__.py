"""File data: what Ente's apps derive from a file and encrypt with its key (ML indexes, preview videos and
images), stored exactly as sent, one entry per file and type, with a status diff per owner."""
