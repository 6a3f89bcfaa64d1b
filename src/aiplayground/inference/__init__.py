"""The data plane: one `infer()` behind KServe v1, Open Inference Protocol v2, the UI and the CLI.

Importing this package imports no model library; runtimes load lazily in worker processes.
"""
