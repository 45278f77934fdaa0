import pathlib

import pytest

import cyberbrain


@pytest.fixture
def db_url(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path / 'cyberbrain.db'}"


@pytest.fixture
def cb(db_url: str) -> cyberbrain.Cyberbrain:
    return cyberbrain.Cyberbrain.open(db_url, data_dir=str(pathlib.Path(db_url[len("sqlite://"):]).parent))
