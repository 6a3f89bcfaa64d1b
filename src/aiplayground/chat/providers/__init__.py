"""LLM providers, one module each: `embedded` (GGUF on llama.cpp), `transformers` (Hugging
Face folders on torch), `openai` (OpenAI-compatible servers), `kserve_v2` (v2 generate).

The local ones run their model in a worker process (`process`, `worker`); `pool` picks
the provider from a catalog model's format and endpoint protocol. Nothing here imports
llama_cpp or torch until a model is loaded.
"""
