import os
import pathlib

import pytest

# Before any test module imports Keras (neither pytest nor pathlib does).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def reference_dir():
    """The paper's published reference tables (its Appendix D.3), kept in tests/data."""
    return REPO / "tests" / "data"


@pytest.fixture
def no_quadrature(monkeypatch):
    """Any run of the exact quadrature fails; solver caches are cleared around the test."""
    from keras_lyapunov import theory

    def fail(*args):
        raise AssertionError("the quadrature ran")

    monkeypatch.setattr(theory, "sphere_log_moments_by_quadrature", fail)
    theory._sphere_log_moments_cached.cache_clear()
    theory._cached_quantity.cache_clear()
    yield
    theory._sphere_log_moments_cached.cache_clear()
    theory._cached_quantity.cache_clear()
