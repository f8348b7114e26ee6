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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from support.paths import ROOT
from support.servers import free_port, started

READY = "start worker processes"
"""What nginx logs (at ``notice``) once its listening sockets are bound."""
PROXY_SETTINGS = ROOT / "deploy" / "nginx" / "dn-cds-proxy.conf"


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
error_log stderr notice;
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
    command = [*prefix, binary, "-e", "stderr", "-p", str(directory), "-c", str(config), "-g", "daemon off;"]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"nginx rejected its configuration:\n{check.stderr}")
    try:
        # "start worker processes" is logged once the listening sockets are bound; SIGQUIT stops it gracefully
        # (the requests in flight are finished)
        with started(command, READY, log_path=directory / "error.log", stop_signal=signal.SIGQUIT):
            yield f"http://127.0.0.1:{port}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
