"""Settings: environment parsing, defaults, and that every setting is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aiplayground.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def env_names(model: type[BaseModel], prefix: str = "AIP_") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_has_a_description_and_is_in_the_readme() -> None:
    readme = README.read_text()
    for name in env_names(Settings):
        assert f"`{name}`" in readme, f"{name} is not documented in README.md"


def test_defaults_live_in_the_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIP_HOME", str(tmp_path))
    settings = Settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/aiplayground.db"
    assert settings.resolved_storage_url == (tmp_path / "artifacts").as_uri()


def test_environment_and_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIP_DATABASE_URL", "postgresql://u@h:5432/d")
    monkeypatch.setenv("AIP_STORAGE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("AIP_SERVER__PORT", "9001")
    monkeypatch.setenv("AIP_LIMITS__MAX_UPLOAD_BYTES", "1234")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql://u@h:5432/d"
    assert settings.resolved_storage_url == "s3://bucket/prefix"
    assert settings.server.port == 9001
    assert settings.limits.max_upload_bytes == 1234
    assert settings.public_url == "http://127.0.0.1:9001"


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "aip.toml"
    config.write_text('log_level = "DEBUG"\n[server]\nport = 8100\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("AIP_CONFIG", str(config))
    monkeypatch.setenv("AIP_SERVER__PORT", "8200")
    settings = Settings()
    assert settings.log_level == "DEBUG"
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == 8200
