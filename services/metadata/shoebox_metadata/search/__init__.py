"""v1 search (`GET /v1/search/images`): a query language parsed without the database (`query`), turned into
one indexed SQL statement over what the caller may read (`builder`), run by `Search` (`service`)."""
