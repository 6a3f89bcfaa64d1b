"""Reading ROOT files: open (local or remote), list trees and branches, chunked summaries.

Every read of event data goes through `uproot`'s chunked iteration, so memory stays bounded
by the step size whatever the file size. A damaged file or a missing tree or branch is a
`ValidationFailed`/`InvalidInput`, which the API turns into a 4xx.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiplayground.errors import (
    InvalidInput,
    MissingDependency,
    UpstreamError,
    UpstreamTimeout,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aiplayground.hep.remote import RemoteFiles

DEFAULT_STEP = "50 MB"
REMOTE_SCHEMES = ("root://", "http://", "https://", "s3://")
MAX_MULTIPLICITY_BINS = 64


def uproot_module() -> Any:
    """The `uproot` module, or a MissingDependency that says what to install."""
    try:
        import uproot
    except ImportError as exc:  # pragma: no cover - uproot is a core dependency here
        raise MissingDependency("reading ROOT files needs `pip install uproot awkward`") from exc
    return uproot


def corrupt_errors() -> tuple[type[BaseException], ...]:
    """The exceptions uproot raises for a truncated or damaged file."""
    uproot = uproot_module()
    return (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        struct.error,
        zlib.error,
        uproot.deserialization.DeserializationError,
    )


def _label(source: str | Path) -> str:
    return (
        source
        if isinstance(source, str) and source.startswith(REMOTE_SCHEMES)
        else Path(source).name
    )


@contextmanager
def reading(source: str | Path) -> Iterator[None]:
    """Turn uproot's errors for a damaged file into a ValidationFailed naming the file."""
    try:
        yield
    except corrupt_errors() as exc:
        if isinstance(exc, FileNotFoundError):
            raise InvalidInput(f"no ROOT file at {_label(source)}") from exc
        if isinstance(exc, TimeoutError):
            raise UpstreamTimeout(f"{_label(source)} stopped answering ({exc})") from exc
        if isinstance(exc, ConnectionError) or str(exc).startswith("XRootD error"):
            raise UpstreamError(f"reading {_label(source)} failed ({exc})") from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationFailed(
            f"{_label(source)} is not a readable ROOT file ({first}); it may be truncated "
            "or damaged"
        ) from exc


@contextmanager
def open_root(source: str | Path, remote: RemoteFiles | None = None) -> Iterator[Any]:
    """Open a local path, or a `root://`/`https://` URL through `remote`, as a ROOT directory.

    URLs are only read through `remote`, which checks them against the outbound policy.
    """
    uproot = uproot_module()
    if isinstance(source, str) and source.startswith(REMOTE_SCHEMES):
        if remote is None:
            raise InvalidInput(f"{source[:200]} is a URL; register it as a remote dataset")
        with remote.uproot_source(source) as (target, options), reading(source):
            handle = uproot.open(target, **options)
            try:
                yield handle
            finally:
                handle.close()
        return
    with reading(source):
        handle = uproot.open(str(source))
    try:
        with reading(source):
            yield handle
    finally:
        handle.close()


# ROOT classes that hold events, and what the platform calls them.
TREE_KINDS = {
    "TTree": "TTree",
    "TNtuple": "TTree",
    "TNtupleD": "TTree",
    "ROOT::RNTuple": "RNTuple",
    "ROOT::Experimental::RNTuple": "RNTuple",
}


def tree_kinds(root: Any) -> dict[str, str]:
    """Tree name (without cycle number) -> TTree or RNTuple, for an open file."""
    found: dict[str, str] = {}
    for key, cls in root.classnames().items():
        if cls in TREE_KINDS:
            found.setdefault(key.rsplit(";", 1)[0], TREE_KINDS[cls])
    return found


def tree_names(root: Any) -> list[str]:
    """The TTree and RNTuple names of an open file, without cycle numbers."""
    return list(tree_kinds(root))


def get_tree(root: Any, name: str) -> Any:
    """One tree of an open file, or an InvalidInput listing the trees it has."""
    names = tree_names(root)
    if name not in names:
        raise InvalidInput(f"no tree named {name!r} in the file; it has {names}")
    return root[name]


def check_branches(tree: Any, wanted: set[str]) -> None:
    """Refuse names the tree does not have, listing a few it does."""
    missing = sorted(wanted - set(tree.keys()))
    if missing:
        known = list(tree.keys())[:20]
        raise InvalidInput(
            f"tree {tree.name!r} has no branch {', '.join(map(repr, missing))}; "
            f"it has {known}{' ...' if len(tree.keys()) > 20 else ''}"
        )


def branch_kind(tree: Any, name: str) -> tuple[str, bool, bool]:
    """(awkward type, jagged, numeric) of one branch; unreadable types are not numeric."""
    branch = tree[name]
    try:
        if hasattr(branch, "interpretation"):
            kind = str(branch.interpretation.awkward_form(tree.file).type)
        else:
            # An RNTuple field describes itself as a record form holding just that field.
            record = branch.to_akform()[0]
            kind = str(record.contents[0].type)
    except Exception:
        return (str(getattr(branch, "typename", "?")), False, False)
    jagged = "var *" in kind
    leaf = kind.replace("var * ", "").strip()
    numeric = leaf in {
        "bool",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float32",
        "float64",
    }
    return kind, jagged, numeric and kind.count("var *") <= 1


def describe(source: str | Path, remote: RemoteFiles | None = None) -> list[dict[str, Any]]:
    """Trees with their kind, entries and branches (type, jagged), from metadata only."""
    with open_root(source, remote) as root:
        return _describe(root)


def _describe(root: Any) -> list[dict[str, Any]]:
    out = []
    for name, tree_kind in tree_kinds(root).items():
        tree = root[name]
        branches = []
        for branch in tree.keys():  # noqa: SIM118 - iterating a tree yields objects
            kind, jagged, numeric = branch_kind(tree, branch)
            branches.append({"name": branch, "type": kind, "jagged": jagged, "numeric": numeric})
        out.append(
            {
                "name": name,
                "kind": tree_kind,
                "entries": int(tree.num_entries),
                "branches": branches,
            }
        )
    return out


def summarize(
    source: str | Path,
    tree_name: str | None = None,
    step_size: str | int = DEFAULT_STEP,
    remote: RemoteFiles | None = None,
) -> dict[str, Any]:
    """Per-branch min/max/mean and jagged multiplicity histograms, computed chunk by chunk."""
    import awkward as ak

    result: dict[str, Any] = {"trees": []}
    with open_root(source, remote) as root:
        trees = _describe(root)
        for info in trees:
            if tree_name is not None and info["name"] != tree_name:
                continue
            tree = root[info["name"]]
            numeric = [b for b in info["branches"] if b["numeric"]]
            stats = {b["name"]: _Stats(b["jagged"]) for b in numeric}
            if numeric and info["entries"]:
                for chunk in tree.iterate(
                    [b["name"] for b in numeric], step_size=step_size, library="ak"
                ):
                    for name, stat in stats.items():
                        stat.add(ak, chunk[name])
            for branch in info["branches"]:
                found = stats.get(branch["name"])
                branch["summary"] = found.result() if found is not None else None
            result["trees"].append(info)
    if tree_name is not None and not result["trees"]:
        raise InvalidInput(
            f"no tree named {tree_name!r}; the file has {[t['name'] for t in trees]}"
        )
    return result


class _Stats:
    """Running count/min/max/sum of values and, for jagged branches, of multiplicities."""

    def __init__(self, jagged: bool) -> None:
        self.jagged = jagged
        self.count = 0
        self.total = 0.0
        self.low = np.inf
        self.high = -np.inf
        self.multiplicity = np.zeros(0, dtype=np.int64)

    def add(self, ak: Any, array: Any) -> None:
        if self.jagged:
            counts = ak.to_numpy(ak.num(array, axis=1))
            self.multiplicity = _add_counts(self.multiplicity, np.bincount(counts))
            values = ak.to_numpy(ak.flatten(array, axis=None))
        else:
            values = ak.to_numpy(array)
        values = values.astype(np.float64, copy=False)
        values = values[np.isfinite(values)]
        if values.size:
            self.count += int(values.size)
            self.total += float(values.sum())
            self.low = min(self.low, float(values.min()))
            self.high = max(self.high, float(values.max()))

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "count": self.count,
            "min": self.low if self.count else None,
            "max": self.high if self.count else None,
            "mean": self.total / self.count if self.count else None,
        }
        if self.jagged:
            hist = self.multiplicity
            if hist.size > MAX_MULTIPLICITY_BINS:
                # The tail past the last bin is folded into it, so no event is lost.
                hist = np.concatenate(
                    [hist[: MAX_MULTIPLICITY_BINS - 1], [hist[MAX_MULTIPLICITY_BINS - 1 :].sum()]]
                )
            out["multiplicity"] = {"bins": list(range(hist.size)), "counts": hist.tolist()}
        return out


def _add_counts(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    size = max(a.size, b.size)
    total: np.ndarray[Any, Any] = np.pad(a, (0, size - a.size)) + np.pad(b, (0, size - b.size))
    return total
