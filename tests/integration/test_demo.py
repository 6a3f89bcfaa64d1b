"""Demo content: real entries, truthfully described, created once per data folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import skops.io
from sklearn.datasets import load_iris

from aiplayground.app import Platform, build_platform
from aiplayground.auth.principal import Principal, Role
from aiplayground.packaged import smollm2_path
from aiplayground.settings import Settings


@pytest.fixture(scope="module")
def demo_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("demo") / "home"
    platform = build_platform(Settings(home=home, demo=True, server={"ui": False}))
    platform.start()
    yield platform
    platform.close()


def someone(platform: Platform) -> Principal:
    user = platform.auth.ensure_user("reader", Role.MEMBER)
    return Principal(user_id=user.id, name=user.name, role=Role.MEMBER)


def test_iris_is_trained_at_start_and_accurate(demo_platform: Platform) -> None:
    reader = someone(demo_platform)
    model, version = demo_platform.models.resolve(reader, "iris")
    assert model.visibility == "public"
    assert version is not None
    assert version.aliases == ["production"]
    assert version.metrics["accuracy"] > 0.9
    assert version.signature is not None
    assert version.example is not None
    files = demo_platform.models.stored_files(reader, "iris", version.version)
    stream = demo_platform.storage.open(files[0].key)
    with stream:
        data = stream.read()
    estimator = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    x, y = load_iris(return_X_y=True)
    assert (estimator.predict(x) == y).mean() > 0.9


def test_hep_datasets_and_llm(demo_platform: Platform) -> None:
    reader = someone(demo_platform)
    names = {d.name for d in demo_platform.datasets.search(reader).items}
    assert {"hep-hzz", "hep-zmumu", "cms-nanoaod-ttbar"} <= names
    hzz = demo_platform.datasets.get_version(reader, "hep-hzz", 1)
    assert hzz.files[0].path == "uproot-HZZ.root"
    assert hzz.files[0].size > 100_000
    classifier, version = demo_platform.models.resolve(reader, "hep-hzz-vs-zmumu")
    assert classifier.objective == "classification"
    assert version is not None
    assert version.metrics["val_accuracy"] > 0.85, "validation accuracy measured at first start"
    if smollm2_path() is not None:
        llm = demo_platform.models.get(reader, "smollm2-135m-instruct")
        assert llm.objective == "text-generation"
        assert llm.latest_version == 1


# Runs last in this module: it deletes a demo entry from the shared platform.
def test_demo_is_created_once(demo_platform: Platform) -> None:
    admin = demo_platform.auth.first_admin()
    assert admin is not None
    owner = Principal(user_id=admin.id, name=admin.name, role=Role.ADMIN)
    demo_platform.models.delete(owner, "iris")
    demo_platform.start()
    assert all(m.name != "iris" for m in demo_platform.models.search(owner).items)
