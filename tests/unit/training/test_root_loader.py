"""ROOT files as training data: preprocessing in chunks, labels from a branch or per file."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from pydantic import ValidationError

from aiplayground.hep.demo import HZZ, ZMUMU, muon_preprocessing
from aiplayground.hep.preprocessing import (
    AggregateFeature,
    BranchFeature,
    Collection,
    JaggedLayout,
    PadFeature,
    Preprocessing,
)
from aiplayground.hep.transform import features as feature_matrix
from aiplayground.training.data import load_root
from aiplayground.training.recipes.base import JobError
from aiplayground.training.recipes.mlp import MlpParams
from aiplayground.training.recipes.tabular import TabularParams

PER_FILE = {"uproot-HZZ.root": 1, "uproot-Zmumu.root": 0}


def write_jets_file(path: Path, events: int = 600, seed: int = 0) -> Path:
    """A TTree `events` with jagged jets, a flat `met`, a `label` branch and a jagged one.

    The label is 1 when the scalar sum of jet pt plus met is high: learnable from the
    jagged jets through a preprocessing, and written in several baskets (`extend` twice).
    """
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 5, events)
    pt = rng.exponential(30.0, counts.sum())
    eta = rng.normal(0.0, 1.5, counts.sum())
    jets_pt = ak.unflatten(pt, counts)
    met = rng.exponential(20.0, events)
    total = ak.to_numpy(ak.sum(jets_pt, axis=1)) + met
    label = (total > np.median(total)).astype(np.int32)
    half = events // 2
    with uproot.recreate(path) as f:
        tree = f.mktree(
            "events",
            {
                "met": np.float64,
                "label": np.int32,
                "Jet_pt": "var * float64",
                "Jet_eta": "var * float64",
            },
        )
        for part in (slice(0, half), slice(half, events)):
            tree.extend(
                {
                    "met": met[part],
                    "label": label[part],
                    "Jet_pt": jets_pt[part],
                    "Jet_eta": ak.unflatten(eta, counts)[part],
                }
            )
    return path


def jets_preprocessing() -> Preprocessing:
    """Jet count and pt sum, the two leading jets' pt and eta, and met."""
    jets = Collection(
        name="jet",
        layouts=[JaggedLayout(fields={"pt": "Jet_pt", "eta": "Jet_eta"})],
        sort_by="pt",
    )
    return Preprocessing(
        tree="events",
        collections=[jets],
        features=[
            AggregateFeature(collection="jet", field="pt", ops=["count", "sum"]),
            PadFeature(collection="jet", fields=["pt", "eta"], length=2),
            BranchFeature(branch="met"),
        ],
    )


@pytest.fixture(scope="module")
def jets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jets_file(tmp_path_factory.mktemp("root") / "jets.root")


def test_label_branch_and_jagged_features_in_small_chunks(jets: Path) -> None:
    pre = jets_preprocessing()
    lines: list[str] = []
    data = load_root([jets], preprocessing=pre, target="label", chunk_mb=0.001, log=lines.append)
    expected, names = feature_matrix(pre, jets)
    truth = uproot.open(jets)["events"]["label"].array(library="np")
    assert data.x.dtype == np.float32
    assert data.x.shape == (600, len(names)) == (600, 9)
    np.testing.assert_allclose(data.x, expected.astype(np.float32))
    np.testing.assert_array_equal(data.y, truth)
    assert data.feature_names == names
    # The tree of the file, not something guessed, is what the version stores.
    assert data.details()["preprocessing"]["tree"] == "events"
    assert data.details()["feature_names"] == names
    assert data.events == {"jets.root": 600}
    assert any("600 events x 9 features" in line for line in lines)


def test_default_takes_flat_numeric_branches_and_says_what_it_left_out(jets: Path) -> None:
    lines: list[str] = []
    data = load_root([jets], target="label", log=lines.append)
    # uproot wrote a counter branch for each jagged one: flat numbers, so features too.
    assert data.feature_names == ["met", "nJet_pt", "nJet_eta"]
    assert any("Jet_eta, Jet_pt" in line and "pad or aggregate" in line for line in lines)
    chosen = load_root([jets], target="label", features=["met"])
    assert chosen.feature_names == ["met"]
    with pytest.raises(JobError, match=r"feature 'Jet_pt' is a jagged branch"):
        load_root([jets], target="label", features=["Jet_pt"])
    with pytest.raises(JobError, match=r"uproot-Zmumu\.root: tree 'events' has no branch 'NJet'"):
        load_root([HZZ, ZMUMU], label_by_file=PER_FILE, features=["NJet"])


def test_one_label_per_file_on_the_real_files() -> None:
    data = load_root(
        [HZZ, ZMUMU], preprocessing=muon_preprocessing(), label_by_file=PER_FILE, chunk_mb=0.05
    )
    # min_count=2 keeps 1413 of the 2421 HZZ events and every Zmumu event.
    assert data.events == {"uproot-HZZ.root": 1413, "uproot-Zmumu.root": 2304}
    assert data.y.tolist() == [1] * 1413 + [0] * 2304
    assert data.x.shape == (3717, len(muon_preprocessing().feature_names()))


def test_text_labels_and_a_tree_chosen_by_parameter(jets: Path) -> None:
    data = load_root(
        [HZZ, ZMUMU],
        tree="events",
        preprocessing=muon_preprocessing().model_copy(update={"tree": "nope"}),
        label_by_file={"uproot-HZZ.root": "signal", "uproot-Zmumu.root": "background"},
    )
    assert set(data.y.tolist()) == {"signal", "background"}
    assert data.preprocessing.tree == "events"


def test_clear_errors(jets: Path, tmp_path: Path) -> None:
    pre = muon_preprocessing()
    with pytest.raises(JobError, match=r"names 'signal\.root', which is not a ROOT file"):
        load_root([HZZ, ZMUMU], preprocessing=pre, label_by_file={"signal.root": 1, **PER_FILE})
    with pytest.raises(JobError, match="single class"):
        load_root([HZZ, ZMUMU], preprocessing=pre, label_by_file=dict.fromkeys(PER_FILE, 1))
    with pytest.raises(JobError, match=r"jets\.root: tree 'events' has no branch 'nope'"):
        load_root([jets], target="nope")
    missing = Preprocessing(features=[BranchFeature(branch="MET_pz")])
    with pytest.raises(JobError, match=r"uproot-HZZ\.root: tree 'events' has no branch 'MET_pz'"):
        load_root([HZZ], preprocessing=missing, target="NJet")
    with pytest.raises(JobError, match=r"the target branch 'Jet_pt' is var \* float64"):
        load_root([jets], target="Jet_pt")
    with pytest.raises(JobError, match="cannot also be a feature"):
        load_root([jets], target="met", features=["met"])
    with pytest.raises(JobError, match="share no flat numeric branch"):
        load_root([HZZ, ZMUMU], label_by_file=PER_FILE)
    with pytest.raises(JobError, match="no tree named 'Events'"):
        load_root([HZZ], tree="Events", target="NJet")
    with pytest.raises(JobError, match="has no ROOT file"):
        load_root([tmp_path / "data.csv"], target="y")

    histogram_only = tmp_path / "histogram.root"
    with uproot.recreate(histogram_only) as f:
        f["h"] = np.histogram(np.arange(10.0), bins=5)
    with pytest.raises(JobError, match=r"histogram\.root has no TTree or RNTuple"):
        load_root([histogram_only], target="y")

    broken = tmp_path / "broken.root"
    broken.write_bytes(HZZ.read_bytes()[:120_000])
    with pytest.raises(JobError, match=r"broken\.root is not a readable ROOT file"):
        load_root([broken], preprocessing=pre, target="NJet")

    cut_all = pre.model_copy(update={"cuts": ["NMuon > 100"]})
    with pytest.raises(JobError, match="no events passed"):
        load_root([HZZ], preprocessing=cut_all, target="NJet")


def test_an_rntuple_is_the_default_tree(tmp_path: Path) -> None:
    path = tmp_path / "ntuple.root"
    with uproot.recreate(path) as f:
        f.mkrntuple("ntuple", {"x": np.arange(6.0), "y": np.arange(6) % 2})
    data = load_root([path], target="y")
    assert data.preprocessing.tree == "ntuple"
    assert data.x[:, 0].tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("params", [TabularParams, MlpParams])
def test_parameters_name_one_label_source(params: type[TabularParams | MlpParams]) -> None:
    with pytest.raises(ValidationError, match="give a `target`") as info:
        params.model_validate({})
    assert info.value.errors()[0]["loc"] == ("target",)  # the form shows it under the field
    with pytest.raises(ValidationError, match="not both"):
        params.model_validate({"target": "y", "label_by_file": PER_FILE})
    with pytest.raises(ValidationError, match="`features` or a `preprocessing`, not both"):
        params.model_validate(
            {
                "target": "y",
                "features": ["a"],
                "preprocessing": muon_preprocessing().model_dump(mode="json"),
            }
        )
    with pytest.raises(ValidationError, match="unknown collection"):
        params.model_validate(
            {
                "target": "y",
                "preprocessing": {
                    "features": [{"kind": "pad", "collection": "x", "fields": ["pt"], "length": 2}]
                },
            }
        )
    ok = params.model_validate(
        {"label_by_file": PER_FILE, "preprocessing": muon_preprocessing().model_dump(mode="json")}
    )
    assert ok.preprocessing == muon_preprocessing()
