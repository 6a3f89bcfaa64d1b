"""AI Playground: a self-hostable machine-learning-as-a-service platform."""

__version__ = "0.1.0"
