"""FastAPI routers: thin translations between HTTP and service calls."""
