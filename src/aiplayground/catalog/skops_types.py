"""Which types a skops file may need without an admin's trust: one rule for upload and load."""

from __future__ import annotations

# Classes of the numeric stack (tree structures, scipy sparse matrices, numpy dtypes...).
# Functions that read or write files, or run code, are never among them.
SAFE_MODULES = ("sklearn.", "numpy.", "scipy.")
UNSAFE_WORDS = ("load", "save", "file", "memmap", "exec", "eval", "system", "testing", "_test")


def untrusted_beyond_numeric_stack(types: list[str]) -> list[str]:
    """The types of a skops file that only an admin's trust may allow."""
    return [
        t
        for t in types
        if not t.startswith(SAFE_MODULES) or any(w in t.lower() for w in UNSAFE_WORDS)
    ]
