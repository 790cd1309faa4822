"""Per-task cost of the task runtime against bare taskiq: `uv run python bench/queue.py [--tasks N …]`.

The measuring code is `bench/queue_cost.py` (its docstring says what is measured and how). This file has the
standard library's name `queue`, and every script in bench/ has this folder first on its import path, so when
one of them (or a library it uses) imports `queue`, this file hands over the standard library's module instead
of shadowing it.
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
from pathlib import Path

if __name__ == "__main__":
    _here = Path(__file__).resolve().parent
    sys.path[:] = [str(_here.parent), *(p for p in sys.path if Path(p or ".").resolve() != _here)]
    from bench.queue_cost import cli

    cli()
elif __name__ == "queue":  # found instead of the standard library's module: become that module
    _spec = importlib.util.spec_from_file_location(
        "queue", Path(sysconfig.get_paths()["stdlib"]) / "queue.py"
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["queue"] = _module
    _spec.loader.exec_module(_module)
