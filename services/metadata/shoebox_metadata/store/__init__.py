"""The shared space of CL's store: entities (files and collections of one space), its modes, uploads
through the API, and its administration."""
