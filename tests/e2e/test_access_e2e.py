"""Access through the real processes: the `cratedigger keys` CLI against the deployment's PostgreSQL, keys used
on the real API (uvicorn, Redis), revocation effective at once; and `cratedigger serve`'s first admin key."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from tests.auth import ADMIN_KEY
from tests.e2e import api
from tests.e2e.conftest import Deployed
from tests.e2e.processes import BIN, ServiceProcess, free_port, service_env, wait_until

pytestmark = pytest.mark.e2e


def cratedigger(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cratedigger"), *args], env=dict(env), capture_output=True, text=True, timeout=60
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_cli_keys_work_on_the_api_until_revoked(deployed: Deployed) -> None:
    base = deployed.base
    made = cratedigger(deployed.env, "keys", "create", "--name", "e2e-reader", "--scope", "read")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("cd_") and "shown only now" in made.stderr

    assert httpx.get(f"{base}/tracks", headers=bearer(key)).status_code == 200
    refused = httpx.post(
        f"{base}/collect/beatport/collect", json={"genre": "tech-house"}, headers=bearer(key)
    )
    assert refused.status_code == 403 and "needs write" in refused.json()["detail"]
    assert api.get(f"{base}/tracks").status_code == 200  # API_ADMIN_KEY, from the environment

    listed = cratedigger(deployed.env, "keys", "list")
    assert listed.returncode == 0 and "e2e-reader" in listed.stdout and key not in listed.stdout
    assert "never" not in listed.stdout.split("e2e-reader", 1)[1].splitlines()[0]  # last used: just now

    revoked = cratedigger(deployed.env, "keys", "revoke", "e2e-reader")
    assert revoked.returncode == 0, revoked.stderr
    after = httpx.get(f"{base}/tracks", headers=bearer(key))
    assert after.status_code == 401 and after.headers["WWW-Authenticate"].startswith("Bearer")
    again = cratedigger(deployed.env, "keys", "revoke", "e2e-reader")
    assert again.returncode == 1 and "No key named" in again.stderr


def test_anonymous_callers_get_401_and_only_the_health_status(deployed: Deployed) -> None:
    assert httpx.get(f"{deployed.base}/tracks").status_code == 401
    assert httpx.get(f"{deployed.base}/health").json() == {"status": "ok"}
    assert "checks" in api.get(f"{deployed.base}/health").json()


def test_serve_makes_an_admin_key_file_on_first_start(tmp_path: Path) -> None:
    env = {k: v for k, v in service_env().items() if k not in ("SECRET_KEY", "API_ADMIN_KEY")}
    port = free_port()
    serve = ServiceProcess(
        "serve", [str(BIN / "cratedigger"), "serve", "--port", str(port)], env, tmp_path, cwd=tmp_path
    )
    try:
        key_file = tmp_path / "data" / "api-key"

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                assert serve.proc.poll() is None, serve.log()
                return False

        wait_until(answers, what="cratedigger serve to answer", timeout=60)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        assert "data/api-key" in serve.log() and key not in serve.log()
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/tracks", headers=bearer(key)).status_code == 200
        assert httpx.get(f"{base}/tracks", headers=bearer(ADMIN_KEY)).status_code == 401  # not set here
        assert httpx.get(f"{base}/tracks").status_code == 401
    finally:
        serve.stop()
