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


# --- micro-expression trees (tests/data/me_fixtures.py) ------------------------

try:
    from . import me_fixtures
except ImportError:
    import me_fixtures


@pytest.fixture(scope="session")
def casme2_tree(tmp_path_factory):
    pytest.importorskip("cv2")
    pytest.importorskip("openpyxl")
    root = tmp_path_factory.mktemp("casme2")
    return root, me_fixtures.make_casme2(root)


@pytest.fixture(scope="session")
def samm_tree(tmp_path_factory):
    pytest.importorskip("cv2")
    pytest.importorskip("openpyxl")
    root = tmp_path_factory.mktemp("samm")
    return root, me_fixtures.make_samm(root)


@pytest.fixture(scope="session")
def smic_tree(tmp_path_factory):
    pytest.importorskip("cv2")
    root = tmp_path_factory.mktemp("smic")
    return root, me_fixtures.make_smic(root)
