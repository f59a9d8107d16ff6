"""The upload signer's core: sessions under server-chosen keys, quota held at metadata for the bytes
declared, URLs signed for one method on one key, and on completion a check of what storage holds
against what was declared. Bytes go straight to storage; nothing here reads them on a request's path.

- `sessions`: `Uploads`, what every face does (open, sign, list, abort, complete) and the v1 start;
- `completion`: completing a session without holding its row across storage or metadata calls;
- `outcomes`: how a session ends, with the event that says so in the same transaction;
- `limits`: what one request and one owner may open and sign;
- `ente`, `uppy`: what those faces' clients need beyond that;
- `sweeper`: what runs beside the routes (abandoned uploads, form uploads, checksums);
- `library`: the questions asked of metadata, through the internal contract;
- `repo`: the queries.
"""
