"""The HTTP kit: problem details, body and query parsing, pagination, PATCH, middlewares."""
