"""Guards that keep the code easy to live in: small modules, simple functions (ruff's C90 at 10)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
MAX_MODULE_LINES = 400


def test_no_module_in_app_is_over_400_lines() -> None:
    sizes = {str(p.relative_to(APP)): len(p.read_text().splitlines()) for p in APP.rglob("*.py")}
    assert len(sizes) > 20  # the walk found the package
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert too_long == {}


def test_every_function_in_app_passes_mccabe_at_10() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    result = subprocess.run(
        [ruff, "check", "--select", "C90", "--config", "lint.mccabe.max-complexity=10", str(APP)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
