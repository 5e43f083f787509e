"""pyproject.toml's minimum versions are those `bash dev.sh floors` tests (constraints-min.txt)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints-min.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version.strip()
    return pins


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return reqs


def test_pyproject_floors_equal_the_tested_pins():
    pins = _pins()
    floors = {}
    for req in _requirements():
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", req)
        name, spec = _norm(m.group(1)), m.group(3)
        if name in pins:
            floors[name] = spec
            assert spec == f">={pins[name]}", (
                f"pyproject.toml requires {req!r} but constraints-min.txt tests "
                f"{name}=={pins[name]}: make the floor '>={pins[name]}' (or test the other)."
            )
    # The packages the issue names are all floored and tested.
    assert {"jax", "flax", "optax", "ott-jax", "orbax-checkpoint", "numpy"} <= set(floors)
    assert pins["jaxlib"] == pins["jax"]
