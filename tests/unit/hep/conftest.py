"""Real sample ROOT files (copied from the demo data) and files the tests write."""

from __future__ import annotations

import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

DATA = Path(__file__).resolve().parents[3] / "src" / "aiplayground" / "demo" / "data"


@pytest.fixture(scope="session")
def hep_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three real files, copied to a writable temporary folder."""
    folder = tmp_path_factory.mktemp("hep")
    names = {
        "hzz": "uproot-HZZ.root",
        "zmumu": "uproot-Zmumu.root",
        "nanoaod": "nanoAOD_2015_CMS_Open_Data_ttbar.root",
    }
    return {key: Path(shutil.copy(DATA / name, folder / name)) for key, name in names.items()}


@pytest.fixture(scope="session")
def jagged_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TTree written here with uproot: jagged jets in two chunks (mktree + extend)."""
    path = tmp_path_factory.mktemp("written") / "jets.root"
    with uproot.recreate(path) as f:
        tree = f.mktree("jets", {"met": np.float64, "jet_pt": "var * float64"})
        tree.extend({"met": np.array([10.0, 20.0]), "jet_pt": ak.Array([[50.0, 30.0], []])})
        tree.extend(
            {"met": np.array([30.0, 40.0]), "jet_pt": ak.Array([[5.0, 70.0, 20.0], [15.0]])}
        )
    return path
