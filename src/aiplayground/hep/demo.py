"""The demo classifier: H->ZZ tutorial events against Z->mumu events, on muon features.

Both files are real (scikit-hep-testdata, BSD-3-Clause). HZZ stores muons as jagged
`Muon_*` branches, Zmumu as flat `px1..E2` branches; one `Preprocessing` with two layouts
maps both to the same features, so the stored model predicts on either file.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiplayground.hep.preprocessing import (
    Collection,
    FlatLayout,
    JaggedLayout,
    MassFeature,
    PadFeature,
    Preprocessing,
)

if TYPE_CHECKING:
    from aiplayground.app import Platform
    from aiplayground.auth.principal import Principal

MODEL_NAME = "hep-hzz-vs-zmumu"
DATA = Path(__file__).resolve().parent.parent / "demo" / "data"
HZZ = DATA / "uproot-HZZ.root"
ZMUMU = DATA / "uproot-Zmumu.root"
SEED = 0
VALIDATION_FRACTION = 0.3
TREES = 100

CARD = """\
A random forest (scikit-learn `RandomForestClassifier`, 100 trees) that tells
**H→ZZ tutorial events** (class 1, `uproot-HZZ.root`) from **Z→μμ events** (class 0,
`uproot-Zmumu.root`), both real sample files of the scikit-hep-testdata project
(BSD-3-Clause). Trained by AI Playground at first start (or by `aiplayground hep
train-demo`) on a stratified {train_pct} % split of the events with at least two muons;
the metrics are measured on the other {val_pct} % ({n_val} events).

Features (the stored preprocessing, applied again at inference on a ROOT file): the two
leading muons by pt (pt, eta, phi, E) and their invariant mass, computed from px/py/pz/E.
The muon count is deliberately left out: every Zmumu event has exactly two muons, so it
would separate the files without saying anything about the physics.

This is a demonstration of ROOT-native training and inference on two small tutorial
samples (a few thousand events from different generators and detector simulations), not a
physics analysis: it partly learns how the two samples were produced.
"""


def muon_preprocessing() -> Preprocessing:
    """Leading-two-muon features from jagged `Muon_*` or flat `px1..E2` branches."""
    four = ("px", "py", "pz", "E")
    muon = Collection(
        name="muon",
        layouts=[
            JaggedLayout(fields={c: f"Muon_{c.capitalize() if c != 'E' else 'E'}" for c in four}),
            FlatLayout(objects=[{c: f"{c}{i}" for c in four} for i in (1, 2)]),
        ],
        derive=["pt", "eta", "phi"],
        sort_by="pt",
        min_count=2,
    )
    return Preprocessing(
        tree="events",
        collections=[muon],
        features=[
            PadFeature(collection="muon", fields=["pt", "eta", "phi", "E"], length=2, mask=False),
            MassFeature(collection="muon", k=2),
        ],
    )


@dataclass
class DemoModel:
    """The fitted estimator, its preprocessing and its validation metrics."""

    estimator: Any
    preprocessing: Preprocessing
    metrics: dict[str, float]


def train_demo(hzz: Path = HZZ, zmumu: Path = ZMUMU) -> DemoModel:
    """Fit the classifier on both files with a held-out stratified validation split."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    from aiplayground.hep.transform import features

    pre = muon_preprocessing()
    signal, _ = features(pre, hzz)
    background, _ = features(pre, zmumu)
    x = np.concatenate([signal, background])
    y = np.concatenate([np.ones(len(signal), np.int64), np.zeros(len(background), np.int64)])
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=VALIDATION_FRACTION, random_state=SEED, stratify=y
    )
    # A forest, not gradient boosting: as accurate here and several times faster to fit at start.
    model = RandomForestClassifier(
        n_estimators=TREES, min_samples_leaf=2, random_state=SEED, n_jobs=1
    ).fit(x_train, y_train)
    proba = model.predict_proba(x_val)[:, 1]
    metrics = {
        "val_accuracy": round(float(accuracy_score(y_val, proba > 0.5)), 4),
        "val_roc_auc": round(float(roc_auc_score(y_val, proba)), 4),
        "n_train": float(len(y_train)),
        "n_val": float(len(y_val)),
        "n_hzz": float(len(signal)),
        "n_zmumu": float(len(background)),
    }
    return DemoModel(model, pre, metrics)


def load_hep_demo(platform: Platform, owner: Principal) -> None:
    """Train the demo classifier and register it as catalog model `hep-hzz-vs-zmumu`."""
    from aiplayground.errors import Conflict

    demo = train_demo()
    width = len(demo.preprocessing.feature_names())
    # A second run (`aiplayground hep train-demo`) adds a version to the existing model.
    with contextlib.suppress(Conflict):
        _create(platform, owner, demo)
    _add_version(platform, owner, demo, width)


def _create(platform: Platform, owner: Principal, demo: DemoModel) -> None:
    from aiplayground.catalog.schemas import ModelCreate, ModelFormat, Objective, Visibility

    platform.models.create(
        owner,
        ModelCreate(
            name=MODEL_NAME,
            title="H→ZZ vs Z→μμ muon classifier (ROOT demo)",
            objective=Objective.CLASSIFICATION,
            format=ModelFormat.SKLEARN,
            description=CARD.format(
                train_pct=round(100 * (1 - VALIDATION_FRACTION)),
                val_pct=round(100 * VALIDATION_FRACTION),
                n_val=int(demo.metrics["n_val"]),
            ),
            tags=["demo", "hep", "root", "scikit-learn"],
            visibility=Visibility.PUBLIC,
        ),
    )


def _add_version(platform: Platform, owner: Principal, demo: DemoModel, width: int) -> None:
    import skops.io

    from aiplayground.catalog.files import IncomingFile
    from aiplayground.catalog.schemas import Signature, TensorSpec, VersionMetadata

    signature = Signature(
        inputs=[TensorSpec(name="input-0", datatype="FP64", shape=[-1, width])],
        outputs=[TensorSpec(name="output-0", datatype="INT64", shape=[-1])],
    )
    example, _ = _example(demo.preprocessing)
    with tempfile.TemporaryDirectory(dir=platform.staging) as folder:
        path = Path(folder) / "model.skops"
        skops.io.dump(demo.estimator, path)
        platform.models.add_version(
            owner,
            MODEL_NAME,
            [IncomingFile("model.skops", path)],
            VersionMetadata(
                signature=signature,
                example={"instances": example},
                metrics=demo.metrics,
                params={
                    "estimator": "RandomForestClassifier",
                    "n_estimators": TREES,
                    "min_samples_leaf": 2,
                    "validation_fraction": VALIDATION_FRACTION,
                    "classes": {"0": "Z->mumu", "1": "H->ZZ"},
                    "feature_names": demo.preprocessing.feature_names(),
                    "preprocessing": demo.preprocessing.model_dump(mode="json"),
                },
                description="Trained on uproot-HZZ.root and uproot-Zmumu.root "
                "(scikit-hep-testdata).",
                alias="production",
            ),
        )


def _example(pre: Preprocessing) -> tuple[list[list[float]], list[str]]:
    from aiplayground.hep.transform import iter_features

    chunk = next(iter_features(pre, ZMUMU, step_size=2))
    return [[round(v, 4) for v in row] for row in chunk.matrix.tolist()], pre.feature_names()
