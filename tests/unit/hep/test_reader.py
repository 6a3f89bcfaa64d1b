"""Listing and summarizing ROOT files chunk by chunk; damaged files are clear errors."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import pytest
import uproot

from aiplayground.errors import InvalidInput, ValidationFailed
from aiplayground.hep.reader import describe, summarize


def _branch(summary: dict, name: str) -> dict:
    (tree,) = summary["trees"]
    return next(b for b in tree["branches"] if b["name"] == name)


def test_hzz_summary_in_small_chunks(hep_files: dict[str, Path]) -> None:
    whole = summarize(hep_files["hzz"])
    chunked = summarize(hep_files["hzz"], step_size=100)
    assert whole == chunked
    (tree,) = whole["trees"]
    assert (tree["name"], tree["entries"], len(tree["branches"])) == ("events", 2421, 51)
    muon = _branch(whole, "Muon_Px")
    assert muon["jagged"]
    assert muon["type"] == "var * float32"
    hist = muon["summary"]["multiplicity"]
    assert hist == {"bins": [0, 1, 2, 3, 4], "counts": [59, 949, 1371, 34, 8]}
    n_muon = _branch(whole, "NMuon")["summary"]
    assert (n_muon["min"], n_muon["max"]) == (0, 4)
    # The mean of NMuon equals the muon count over events: the two summaries agree.
    assert n_muon["mean"] * 2421 == pytest.approx(muon["summary"]["count"])


def test_zmumu_and_nanoaod(hep_files: dict[str, Path]) -> None:
    zmumu = summarize(hep_files["zmumu"])
    assert zmumu["trees"][0]["entries"] == 2304
    assert _branch(zmumu, "Type")["summary"] is None  # a string branch has no numeric summary
    assert 60 < _branch(zmumu, "M")["summary"]["mean"] < 120
    nano = describe(hep_files["nanoaod"])
    assert nano[0]["name"] == "Events"
    assert nano[0]["entries"] == 200
    assert len(nano[0]["branches"]) == 947
    summary = summarize(hep_files["nanoaod"], "Events", step_size=64)
    jets = _branch(summary, "Jet_pt")["summary"]["multiplicity"]
    assert _branch(summary, "nJet")["summary"]["max"] == jets["bins"][-1]
    assert sum(jets["counts"]) == 200


def test_written_ttree_and_rntuple(jagged_tree: Path, tmp_path: Path) -> None:
    jets = summarize(jagged_tree, step_size=1)
    jet_pt = _branch(jets, "jet_pt")["summary"]
    assert jet_pt["multiplicity"]["counts"] == [1, 1, 1, 1]
    assert (jet_pt["min"], jet_pt["max"], jet_pt["count"]) == (5.0, 70.0, 6)
    path = tmp_path / "rntuple.root"
    with uproot.recreate(path) as f:
        f["ntuple"] = ak.Array({"met": [1.0, 2.0, 3.0], "jet_pt": [[1.0, 2.0], [], [3.0]]})
    try:
        summary = summarize(path, step_size=1)
    except ValidationFailed as exc:  # pragma: no cover - depends on the uproot version
        pytest.skip(f"uproot cannot read back the RNTuple it wrote: {exc}")
    jet = _branch(summary, "jet_pt")
    assert jet["jagged"]
    assert jet["summary"]["multiplicity"]["counts"] == [1, 1, 1]
    assert _branch(summary, "met")["summary"]["mean"] == 2.0


def test_damaged_files_and_missing_tree(hep_files: dict[str, Path], tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(hep_files["hzz"].read_bytes()[:100_000])
    with pytest.raises(ValidationFailed, match="truncated"):
        summarize(truncated)
    garbage = tmp_path / "garbage.root"
    garbage.write_bytes(b"not a root file at all" * 10)
    with pytest.raises(ValidationFailed, match="not a readable ROOT file"):
        summarize(garbage)
    with pytest.raises(InvalidInput, match="no tree named 'nope'"):
        summarize(hep_files["zmumu"], "nope")
