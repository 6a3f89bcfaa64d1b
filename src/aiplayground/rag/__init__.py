"""Knowledge bases: loaders, splitters, embeddings, vector index, retrieval and evaluation.

Importing this package loads no heavy library: onnxruntime, tokenizers, chromadb, pypdf
and the rest are imported where they are used, and a missing one raises an error that
says to install the `rag` extra.
"""
