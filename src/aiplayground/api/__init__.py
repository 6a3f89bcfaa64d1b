"""HTTP layer: routers, dependencies, middleware and the error mapping."""
