"""`jupyter lab` starts from the project's environment and serves JupyterLab (issue 7: notebooks work from the README's
environment). Starts a real server on a free loopback port with a token, waits for /api/status, fetches /lab, stops it."""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str) -> tuple[int, str]:
    with urlopen(Request(url, headers={"Authorization": f"token {token}"}), timeout=10) as r:
        return r.status, r.read().decode("utf-8", "replace")


def test_jupyter_lab_starts(tmp_path):
    jupyter = Path(sys.executable).parent / "jupyter"
    if not jupyter.exists():
        jupyter = shutil.which("jupyter")
    assert jupyter, "jupyter is not installed in this environment (dev extras: jupyterlab)"
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}  # nothing written to the user's or the repo's folders
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen([str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={ROOT}", *(["--allow-root"] if os.geteuid() == 0 else [])],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        status, deadline = None, time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"jupyter lab exited with {proc.returncode}:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
            try:
                status, body = _get(f"{base}/api/status", token)
                break
            except (URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert status == 200, f"/api/status not up in 90 s:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
        assert '"started"' in body
        status, page = _get(f"{base}/lab", token)
        assert status == 200 and "JupyterLab" in page
        status, listing = _get(f"{base}/api/contents/nbs", token)  # the server sees the repository's notebooks
        assert status == 200 and "11_alpha.kalman.ipynb" in listing
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen) -> None:
    "Stop the server and its kernels (its own process group), politely first."
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=10)
