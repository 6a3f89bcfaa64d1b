"""ROOT -> feature matrix: the platform's preprocessing against a hand-written baseline.

Writes `uproot-HZZ.root` repeated to >= 1M events into a temporary TTree (chunk by chunk,
mktree + extend), then turns it into the demo classifier's features (two leading muons'
pt/eta/phi/E and the dimuon mass) twice in the same run: through
`aiplayground.hep.transform.iter_features` and through a direct uproot+awkward loop.
Prints JSON: events/s, MB/s (file size / time), the ratio, and tracemalloc peaks.

    .venv/bin/python benchmarks/hep.py [--events 1000000] [--step 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from aiplayground.hep.demo import HZZ, muon_preprocessing
from aiplayground.hep.transform import iter_features

BRANCHES = ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E", "NMuon", "MET_px", "MET_py"]


def write_big(path: Path, events: int) -> int:
    """HZZ's muon and MET branches repeated until `events`; returns the entry count."""
    source = uproot.open(HZZ)["events"].arrays(BRANCHES)
    with uproot.recreate(path) as f:
        tree = f.mktree("events", {name: source[name].type.content for name in BRANCHES})
        written = 0
        block = ak.concatenate([source] * 40)  # ~97k events per extend
        while written < events:
            tree.extend({name: block[name] for name in BRANCHES})
            written += len(block)
    return written


def baseline(path: Path, step: int) -> int:
    """The same features, written by hand with uproot + awkward + numpy."""
    rows = 0
    for a in uproot.iterate(
        f"{path}:events", ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E"], step_size=step
    ):
        px, py, pz, e = a.Muon_Px, a.Muon_Py, a.Muon_Pz, a.Muon_E
        keep = ak.num(px) >= 2
        px, py, pz, e = px[keep], py[keep], pz[keep], e[keep]
        pt = np.hypot(px, py)
        order = ak.argsort(pt, axis=1, ascending=False)
        px, py, pz, e, pt = px[order], py[order], pz[order], e[order], pt[order]
        eta = np.arcsinh(pz / pt)
        phi = np.arctan2(py, px)
        cols = [ak.to_numpy(x[:, :2]).astype(np.float64) for x in (pt, eta, phi, e)]
        s = [ak.to_numpy(x[:, :2]).astype(np.float64).sum(axis=1) for x in (e, px, py, pz)]
        mass = np.sqrt(np.maximum(s[0] ** 2 - s[1] ** 2 - s[2] ** 2 - s[3] ** 2, 0.0))
        matrix = np.column_stack([*(np.stack(cols, axis=2).reshape(-1, 8).T), mass])
        rows += matrix.shape[0]
    return rows


def platform(path: Path, step: int) -> int:
    """Through the platform's stored-preprocessing code path."""
    return sum(c.matrix.shape[0] for c in iter_features(muon_preprocessing(), path, step_size=step))


def measure(fn: Any, path: Path, step: int, entries: int, size: int) -> dict[str, float]:
    """Best of two runs, with the tracemalloc peak of the second."""
    best = float("inf")
    rows = 0
    peak = 0
    for _ in range(2):
        tracemalloc.start()
        start = time.perf_counter()
        rows = fn(path, step)
        best = min(best, time.perf_counter() - start)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "seconds": round(best, 3),
        "rows": rows,
        "events_per_s": round(entries / best),
        "mb_per_s": round(size / best / 1e6, 1),
        "tracemalloc_peak_mb": round(peak / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hzz-big.root"
        entries = write_big(path, args.events)
        size = path.stat().st_size
        hand = measure(baseline, path, args.step, entries, size)
        ours = measure(platform, path, args.step, entries, size)
        assert ours["rows"] == hand["rows"], (ours, hand)
        small = measure(platform, path, args.step // 4, entries, size)
    print(
        json.dumps(
            {
                "events": entries,
                "file_mb": round(size / 1e6, 1),
                "step_events": args.step,
                "baseline": hand,
                "platform": ours,
                "ratio": round(hand["seconds"] / ours["seconds"], 3),
                "platform_quarter_step": small,
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
