"""The library core: items, files, collections, shares, trash, links, for every face.

- `access`: who may read and write what; `repo`: the queries; `membership`: items in collections and
  the clocks a change moves; `objects`: the objects in storage.
- `items` (v1 images and the upload signer's items), `files` (the Ente face's encrypted files),
  `collections`, `shares`, `trash`, `links`: the services the face routers call.
- `reports`: what other services report through events; `replicas`: each object's copies as the replicator
  reports them (bad, repaired, damaged), which tiers may serve it, and the replication figures per owner.

Knows nothing of HTTP or of any face's shapes: services answer with rows and dataclasses, which the face
routers render.
"""
