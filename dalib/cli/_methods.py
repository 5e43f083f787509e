"""``dalib methods``: the registered methods, their options and references."""

from __future__ import annotations

from dalib.cli._common import EXIT_OK


def add(sub) -> None:
    p = sub.add_parser("methods", help="list the methods, their options and references")
    p.set_defaults(handler=run)


def run(args) -> int:
    from dalib.experiment import registry

    for name in registry.names():
        m = registry.get(name)
        print(f"{name:18s} {m.family:8s} {m.description}")
        print(f"{'':27s} reference: {m.reference}")
        options = ", ".join(f"{k}={v!r}" for k, v in m.defaults.items())
        print(f"{'':27s} options: {options or '(none)'}")
        if m.deep:
            print(f"{'':27s} recipe: {m.recipe.describe()}")
            print(f"{'':27s}   ({m.recipe.reference})")
    return EXIT_OK
