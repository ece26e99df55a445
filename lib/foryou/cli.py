"""The ``foryou`` command: ``foryou <job> [args]`` runs ``jobs/<job>.py``'s ``main``."""
from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Sequence


def commands() -> list[str]:
    """Every job and operator command, by the name ``foryou`` accepts."""
    import foryou_jobs

    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(foryou_jobs.__path__))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("usage: foryou <command> [--conf FILE] [--set key=value] [--run-date YYYY-MM-DD] ...")
        print("commands: " + ", ".join(commands()))
        print("each command takes --help")
        return 0 if argv else 2
    name = argv[0]
    if name not in commands():
        print(f"foryou: unknown command {name!r}; commands: {', '.join(commands())}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"foryou_jobs.{name.replace('-', '_')}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
