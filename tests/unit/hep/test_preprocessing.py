"""Preprocessing: jagged -> fixed-width features, cuts, derived kinematics, scaling."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from pydantic import ValidationError

from aiplayground.errors import InvalidInput
from aiplayground.hep.demo import muon_preprocessing, train_demo
from aiplayground.hep.preprocessing import Preprocessing, suggest_pad_length
from aiplayground.hep.reader import summarize
from aiplayground.hep.transform import features, fit_scaler, iter_features

JETS = {
    "tree": "jets",
    "cuts": ["met > 15"],
    "collections": [
        {
            "name": "jet",
            "layouts": [{"kind": "jagged", "fields": {"pt": "jet_pt"}}],
            "sort_by": "pt",
        }
    ],
    "features": [
        {"kind": "branch", "branch": "met"},
        {"kind": "pad", "collection": "jet", "fields": ["pt"], "length": 2, "fill": -1},
        {"kind": "aggregate", "collection": "jet", "field": "pt", "ops": ["count", "sum", "max"]},
    ],
}


def test_pad_sort_mask_aggregate_and_cut(jagged_tree: Path) -> None:
    pre = Preprocessing.model_validate(JETS)
    assert pre.feature_names() == [
        "met", "jet_pt_0", "jet_mask_0", "jet_pt_1", "jet_mask_1",
        "jet_count", "jet_pt_sum", "jet_pt_max",
    ]  # fmt: skip
    chunks = list(iter_features(pre, jagged_tree, step_size=1))
    assert np.concatenate([c.entries for c in chunks]).tolist() == [1, 2, 3]
    matrix = np.concatenate([c.matrix for c in chunks])
    assert matrix.tolist() == [
        [20.0, -1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0],  # no jets: fill, mask 0, max -> fill
        [30.0, 70.0, 1.0, 20.0, 1.0, 3.0, 95.0, 70.0],  # sorted by pt, truncated to 2
        [40.0, 15.0, 1.0, -1.0, 0.0, 1.0, 15.0, 15.0],
    ]
    whole, names = features(pre, jagged_tree)
    assert np.array_equal(whole, matrix)
    assert names == pre.feature_names()


def test_round_trip_json_and_validation() -> None:
    pre = muon_preprocessing()
    assert Preprocessing.model_validate_json(pre.model_dump_json()) == pre
    with pytest.raises(ValidationError, match="are allowed"):
        Preprocessing.model_validate({**JETS, "cuts": ["__import__('os').system('id')"]})
    with pytest.raises(ValidationError, match="unknown collection"):
        Preprocessing.model_validate({**JETS, "collections": []})
    bad = {
        **JETS,
        "features": [{"kind": "pad", "collection": "jet", "fields": ["eta"], "length": 1}],
    }
    with pytest.raises(ValidationError, match="no \\['eta'\\]"):
        Preprocessing.model_validate(bad)


def test_missing_branch_is_clear(jagged_tree: Path, hep_files: dict[str, Path]) -> None:
    pre = Preprocessing.model_validate({**JETS, "features": [{"kind": "branch", "branch": "nope"}]})
    with pytest.raises(InvalidInput, match="no branch 'nope'"):
        next(iter_features(pre, jagged_tree))
    # The muon preprocessing has no layout the nanoAOD tree matches (wrong tree name too).
    with pytest.raises(InvalidInput, match="no tree named 'events'"):
        features(muon_preprocessing(), hep_files["nanoaod"])
    nano = muon_preprocessing().model_copy(update={"tree": "Events"})
    with pytest.raises(InvalidInput, match="no layout of collection 'muon'"):
        features(nano, hep_files["nanoaod"])


def test_derived_kinematics_match_the_file(hep_files: dict[str, Path]) -> None:
    """Zmumu also stores pt/eta/phi and the dimuon mass M: the formulas must reproduce them.

    In most of its events the stored pt/eta/phi of one muon belong to a different reconstruction
    of the muon than px/py/pz (a quirk of this tutorial file), so the comparison is made on
    the events where the stored pt equals hypot(px, py).
    """
    pre = muon_preprocessing()
    matrix, names = features(pre, hep_files["zmumu"], step_size=500)
    tree = uproot.open(hep_files["zmumu"])["events"]
    ref = tree.arrays(library="np")
    assert matrix.shape == (2304, 9)
    col = {n: matrix[:, i] for i, n in enumerate(names)}
    consistent = np.isclose(np.hypot(ref["px1"], ref["py1"]), ref["pt1"], rtol=1e-6) & np.isclose(
        np.hypot(ref["px2"], ref["py2"]), ref["pt2"], rtol=1e-6
    )
    assert consistent.sum() > 500
    lead_is_1 = (ref["pt1"] >= ref["pt2"])[consistent]
    pick = {k: ref[k][consistent] for k in ("pt1", "pt2", "eta1", "eta2", "phi1", "phi2", "M")}
    ours = {k: v[consistent] for k, v in col.items()}
    assert np.allclose(ours["muon_pt_0"], np.where(lead_is_1, pick["pt1"], pick["pt2"]), rtol=1e-5)
    assert np.allclose(
        ours["muon_eta_0"], np.where(lead_is_1, pick["eta1"], pick["eta2"]), atol=1e-4
    )
    assert np.allclose(
        ours["muon_phi_1"], np.where(lead_is_1, pick["phi2"], pick["phi1"]), atol=1e-4
    )
    assert np.allclose(ours["muon_mass_2"], pick["M"], rtol=1e-4)


def test_hzz_jagged_muons_agree_with_vector(hep_files: dict[str, Path]) -> None:
    vector = pytest.importorskip("vector")
    pre = muon_preprocessing()
    matrix, names = features(pre, hep_files["hzz"], step_size=300)
    muons = uproot.open(hep_files["hzz"])["events"].arrays(
        ["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E"]
    )
    muons = muons[ak.num(muons.Muon_Px) >= 2]
    assert matrix.shape == (len(muons), 9) == (1413, 9)
    v = vector.zip(
        {"px": muons.Muon_Px, "py": muons.Muon_Py, "pz": muons.Muon_Pz, "E": muons.Muon_E}
    )
    v = v[ak.argsort(v.pt, axis=1, ascending=False)]
    col = {n: matrix[:, i] for i, n in enumerate(names)}
    assert np.allclose(col["muon_pt_0"], ak.to_numpy(v.pt[:, 0]), rtol=1e-5)
    assert np.allclose(col["muon_eta_1"], ak.to_numpy(v.eta[:, 1]), atol=1e-5)
    dimuon = v[:, 0] + v[:, 1]
    assert np.allclose(col["muon_mass_2"], ak.to_numpy(dimuon.mass), rtol=1e-4, atol=1e-3)


def test_scaler_and_pad_suggestion(hep_files: dict[str, Path]) -> None:
    pre = fit_scaler(muon_preprocessing(), [hep_files["hzz"], hep_files["zmumu"]], step_size=700)
    assert pre.scaler is not None
    scaled = np.concatenate([features(pre, hep_files[k])[0] for k in ("hzz", "zmumu")])
    assert np.allclose(scaled.mean(axis=0), 0, atol=1e-9)
    assert np.allclose(scaled.std(axis=0), 1, atol=1e-9)
    hist = next(
        b for b in summarize(hep_files["hzz"])["trees"][0]["branches"] if b["name"] == "Jet_Px"
    )["summary"]["multiplicity"]
    # 716+881+620 = 2217 of 2421 events (91.6 %) have at most 2 jets, 2385 (98.5 %) at most 3.
    assert suggest_pad_length(hist, 0.9) == 2
    assert suggest_pad_length(hist, 0.95) == 3
    assert suggest_pad_length(hist, 1.0) == 5
    assert suggest_pad_length([0, 0, 0]) == 1


def test_demo_classifier_separates_hzz_from_zmumu() -> None:
    demo = train_demo()
    assert demo.metrics["n_val"] == pytest.approx(0.3 * (1413 + 2304), abs=1)
    assert demo.metrics["val_accuracy"] > 0.85
    assert demo.metrics["val_roc_auc"] > 0.9
