"""Marks Keras's test files use (declared by Keras's repository conftest, not shipped in the package)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_trainable_backend: Keras marker (all backends here train)")
