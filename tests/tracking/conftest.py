from __future__ import annotations

import pytest

from tests.tracking.session import TrainedStore, trained_store


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    """A store with a model trained on the CDNOW sample, registered and promoted."""
    return trained_store(tmp_path_factory)
