"""A development identity made once per session (certificate generation is the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyosi.provenance.identity import Identity, init_development


@pytest.fixture(scope="session")
def identity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_development(tmp_path_factory.mktemp("identity") / "id", organisation="pyosi tests")


@pytest.fixture(scope="session")
def identity(identity_dir: Path) -> Identity:
    return Identity.load(identity_dir)


@pytest.fixture(scope="session")
def root_pem(identity_dir: Path) -> str:
    return (identity_dir / "dev-root-ca.pem").read_text()
