"""nginx (Debian's package) as a buffering reverse proxy on a free 127.0.0.1 port, in front of given upstream
ports, with the proxy settings deploy/ ships (deploy/nginx/dn-cds-proxy.conf, included as is).

As root nginx runs as the unprivileged user ``nobody`` (setpriv), with its pid file, logs and temporary files
in a private directory. ``scripts/install-nginx.sh`` installs the package when it is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests
from postgresql_server import free_port

PROXY_SETTINGS = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "dn-cds-proxy.conf"


def find_nginx() -> str | None:
    """The nginx binary, or ``None``."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )


def proxy_config(directory: Path, port: int, upstream_ports: Sequence[int]) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in upstream_ports)
    return f"""
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    upstream dn_cds {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include {PROXY_SETTINGS};
        }}
    }}
}}
"""


@contextmanager
def nginx_proxy(upstream_ports: Sequence[int], port: int | None = None) -> Iterator[str]:
    """nginx on ``port`` (a free one if not given) proxying to the upstreams; yields its base URL."""
    binary = find_nginx()
    if binary is None:
        raise RuntimeError("nginx not found: run scripts/install-nginx.sh (Debian's nginx-light package)")
    port = port or free_port()
    directory = Path(tempfile.mkdtemp(prefix="dn-cds-nginx-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    config = directory / "nginx.conf"
    config.write_text(proxy_config(directory, port, upstream_ports))
    config.chmod(0o644)
    command = [*prefix, binary, "-p", str(directory), "-c", str(config), "-g", "daemon off;"]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"nginx rejected its configuration:\n{check.stderr}")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(directory / 'error.log').read_text(errors='replace')}")
            try:
                requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not listen within 30 s") from None
                time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(directory, ignore_errors=True)
