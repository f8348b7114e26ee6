"""Replay the Dockerfile without a Docker engine: its ENV, its ``pip install`` steps (the locked requirements,
then the package) and its CMD; then the README's Docker example (its ``docker run`` settings and volume, its
``docker exec ... dn-cds demo --url``).

Installs the project into a fresh virtual environment (as the image does, not editable), starts the CMD with
the image's environment (host and port overridden to a free loopback port), as the image's non-root uid when
run as root, then checks /healthz, discovery and one dry-needling hook call, and stops the server. The calls
are signed as the local client (the key the image's default configuration creates in its DN_CDS_DATA_DIR and
trusts), as ``dn-cds demo`` signs them; an unsigned call must get 401.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from cds_service.local_client import sign_service_request

ROOT = Path(__file__).resolve().parents[1]


def dockerfile_steps() -> tuple[dict[str, str], list[list[str]], list[str], str | None]:
    """(ENV, the pip RUN commands in order, CMD argv, USER) read from the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    pip_runs: list[list[str]] = []
    cmd: list[str] = []
    user: str | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line[4:])))
        elif line.startswith("RUN pip "):
            pip_runs.append(shlex.split(line[4:]))
        elif line.startswith("CMD "):
            cmd = json.loads(line[4:])
        elif line.startswith("USER "):
            user = line[5:].strip()
    if not pip_runs or not cmd:
        raise SystemExit("Dockerfile: no 'RUN pip ...' or no CMD found")
    return env, pip_runs, cmd, user


README_EXAMPLE = re.compile(r"<!-- docker-example:start.*?-->\s*```sh\n(.*?)```", re.DOTALL)


def readme_docker_example() -> tuple[dict[str, str], str, list[str], str]:
    """From the README's Docker example: the ``docker run`` ``-e`` settings, the volume's mount path, the
    ``docker exec`` command run in the container, and the container port published on the host."""
    found = README_EXAMPLE.search((ROOT / "README.md").read_text())
    if found is None:
        raise SystemExit("README.md: no docker-example block")
    commands = [
        shlex.split(line) for line in found.group(1).replace("\\\n", " ").splitlines() if line.strip()
    ]
    run = next(c for c in commands if c[:2] == ["docker", "run"])
    exec_command = next(c for c in commands if c[:2] == ["docker", "exec"])
    settings: dict[str, str] = {}
    mount = published = ""
    for flag, value in itertools.pairwise(run):
        if flag == "-e":
            name, _, setting = value.partition("=")
            settings[name] = setting
        elif flag == "-v":
            mount = value.split(":")[1]
        elif flag == "-p":
            published = value.rsplit(":", 1)[1]
    if not mount or not published:
        raise SystemExit("README.md: the docker run example mounts no volume or publishes no port")
    return settings, mount, exec_command[3:], published


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, body: object | None = None, data_dir: Path | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if data_dir is not None:
        headers.update(sign_service_request(url, data_dir=data_dir))
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def main() -> int:
    env_from_image, pip_runs, cmd, user = dockerfile_steps()
    with tempfile.TemporaryDirectory(prefix="dn-cds-image-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - the unprivileged uid must read the venv
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for pip_run in pip_runs:
            print(f"+ {' '.join(pip_run)}  (in {venv})")
            subprocess.run([str(venv / "bin" / pip_run[0]), *pip_run[1:]], cwd=ROOT, check=True)
        port = free_port()
        env = {
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            **env_from_image,
            "DN_CDS_HOST": "127.0.0.1",
            "DN_CDS_PORT": str(port),
            "DN_CDS_DATA_DIR": str(Path(tmp) / "data"),
            "HOME": tmp,
        }
        argv = [str(venv / "bin" / cmd[0]), *cmd[1:]]
        data_dir = Path(env["DN_CDS_DATA_DIR"])
        data_dir.mkdir(mode=0o700)  # the image's data dir lives in the user's home, owned by the user
        if os.geteuid() == 0 and user:
            os.chown(data_dir, int(user), int(user))
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        print(f"+ {' '.join(argv)}")
        server = subprocess.Popen(argv, env=env, cwd=tmp)
        try:
            return check_server(f"http://127.0.0.1:{port}", server, Path(env["DN_CDS_DATA_DIR"]))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)


def run_readme_example() -> int:
    """The README's Docker example: the image's environment plus its ``-e`` settings, the data volume (a
    fresh directory owned by the image's uid, where the image's DN_CDS_DATA_DIR is), then its ``docker exec``
    command as the same uid with the container's environment. The container's port is a free loopback port
    here, so every URL naming the published port is rewritten to it, as ``-p`` maps it."""
    env_from_image, pip_runs, cmd, user = dockerfile_steps()
    settings, mount, exec_argv, published = readme_docker_example()
    if env_from_image.get("DN_CDS_DATA_DIR") != mount:
        image_data = env_from_image.get("DN_CDS_DATA_DIR")
        print(f"FAIL: the README mounts {mount}, the image keeps its data in {image_data}")
        return 1
    with tempfile.TemporaryDirectory(prefix="dn-cds-readme-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - the unprivileged uid must read the venv
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for pip_run in pip_runs:
            subprocess.run([str(venv / "bin" / pip_run[0]), *pip_run[1:], "--quiet"], cwd=ROOT, check=True)
        port = free_port()
        volume = Path(tmp) / "volume"
        volume.mkdir(mode=0o700)

        def mapped(text: str) -> str:
            return text.replace(f"127.0.0.1:{published}", f"127.0.0.1:{port}")

        container_env = {
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            **env_from_image,
            **{name: mapped(value) for name, value in settings.items()},
            "DN_CDS_HOST": "127.0.0.1",
            "DN_CDS_PORT": str(port),
            "DN_CDS_DATA_DIR": str(volume),
            "HOME": tmp,
        }
        prefix: list[str] = []
        if os.geteuid() == 0 and user:
            os.chown(volume, int(user), int(user))
            prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        server = subprocess.Popen([*prefix, str(venv / "bin" / cmd[0]), *cmd[1:]], env=container_env, cwd=tmp)
        try:
            if wait_for_health(f"http://127.0.0.1:{port}", server) != 0:
                return 1
            demo = [*prefix, str(venv / "bin" / exec_argv[0]), *(mapped(arg) for arg in exec_argv[1:])]
            print(f"+ (docker exec) {' '.join(demo)}")
            result = subprocess.run(demo, env=container_env, cwd=tmp, check=False)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    if result.returncode != 0:
        print("FAIL: the README's Docker example: dn-cds demo could not call the service")
        return 1
    print("OK: the README's Docker example serves a service dn-cds demo --url can call")
    return 0


def wait_for_health(base: str, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 30
    while True:
        if server.poll() is not None:
            print("FAIL: the CMD exited before answering")
            return 1
        try:
            status, _ = get_json(f"{base}/healthz")
            if status == 200:
                return 0
        except OSError:
            pass
        if time.monotonic() > deadline:
            print("FAIL: no answer on /healthz within 30 s")
            return 1
        time.sleep(0.3)


def check_server(base: str, server: subprocess.Popen[bytes], data_dir: Path) -> int:
    if wait_for_health(base, server) != 0:
        return 1
    status, ready = get_json(f"{base}/readyz")
    assert status == 200, (status, ready)
    status, refused = get_json(f"{base}/cds-services")
    assert status == 401, (status, refused)
    status, discovery = get_json(f"{base}/cds-services", data_dir=data_dir)
    assert status == 200 and isinstance(discovery, dict), discovery
    order = {
        "resourceType": "ServiceRequest",
        "id": "smoke-1",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20560"}]},
        "subject": {"reference": "Patient/smoke"},
    }
    service = next(s for s in discovery["services"] if s["id"] == "dry-needling-order-sign")  # type: ignore[index]
    body = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/smoke",
            "patientId": "smoke",
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
        },
        # "no data" for every key the image's own discovery asks for, as an EHR would answer it
        "prefetch": {key: None for key in service["prefetch"]},
    }
    status, cards = get_json(f"{base}/cds-services/dry-needling-order-sign", body, data_dir)
    codes = sorted(c["source"]["topic"]["code"] for c in cards["cards"])  # type: ignore[index]
    assert status == 200 and codes == ["no-indication-found", "risk-disclosure"], (status, cards)
    print(f"OK: image steps install and serve; {len(discovery['services'])} services; cards {codes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main() or run_readme_example())
