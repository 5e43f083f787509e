"""Session-wide corpus fixture trees (built once, read-only for the tests)."""

import pytest

try:  # `tests` may or may not be a package
    from . import fixtures
except ImportError:
    import fixtures


@pytest.fixture(scope="session")
def emodb_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("emodb")
    return root, fixtures.make_emodb(root)


@pytest.fixture(scope="session")
def enterface_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("enterface")
    return root, fixtures.make_enterface(root)


@pytest.fixture(scope="session")
def casia_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("casia")
    return root, fixtures.make_casia(root)


@pytest.fixture(scope="session")
def iemocap_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("iemocap")
    return root, fixtures.make_iemocap(root)
