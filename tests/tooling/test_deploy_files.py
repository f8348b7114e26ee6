"""deploy/ stays in step with the service: its settings are ones the service reads and accepts, its probes and
ports are the service's, its proxy and grace periods fit gunicorn's. (Rendering, schema and policy checks of
the manifests: scripts/check-deploy.sh; the proxy settings under load:
tests/integration/test_several_instances.py.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.paths import ROOT

from cds_service.settings import Settings

DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "kubernetes" / "base"
OVERLAY = DEPLOY / "kubernetes" / "overlays" / "example"
SECRET_VALUES = {
    "DN_CDS_PSEUDONYM_KEY": "k" * 64,
    "DN_CDS_DATABASE_URL": "postgresql://app:secret@dn-cds-database-rw:5432/app",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def generated_settings(*kustomizations: Path) -> dict[str, str]:
    """The dn-cds-settings ConfigMap as kustomize builds it: the base's literals merged with the overlay's."""
    values: dict[str, str] = {}
    for kustomization in kustomizations:
        for generator in documents(kustomization)[0].get("configMapGenerator", []):
            if generator["name"] == "dn-cds-settings":
                values.update(literal.split("=", 1) for literal in generator["literals"])
    return values


def gunicorn_setting(name: str) -> Any:
    """A literal from cds_service/gunicorn_config.py, read without importing it (importing it sets up the
    metrics directory for the process)."""
    tree = ast.parse((ROOT / "cds_service" / "gunicorn_config.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` (an error when unset)."""

    def one(match: re.Match[str]) -> str:
        name, operator, word = match.group(1), match.group(2), match.group(3)
        if name in variables:
            return variables[name]
        if operator == ":?":
            raise KeyError(f"{name}: {word}")
        return word if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def deployment() -> dict[str, Any]:
    [found] = documents(BASE / "deployment.yaml")
    return found


def test_the_kubernetes_settings_are_accepted_by_the_service() -> None:
    base, overlay = BASE / "kustomization.yaml", OVERLAY / "kustomization.yaml"
    for layers in [(base,), (base, overlay)]:
        environment = {**generated_settings(*layers), **SECRET_VALUES}

        settings = Settings.from_env(environment)

        assert settings.port == 8080 and settings.metrics_port == 9090
        assert settings.host == "0.0.0.0"  # noqa: S104 - in a pod, reached through the Service


def test_the_overlay_names_a_public_url_and_trusted_issuers() -> None:
    layers = (BASE / "kustomization.yaml", OVERLAY / "kustomization.yaml")
    settings = Settings.from_env({**generated_settings(*layers), **SECRET_VALUES})

    assert settings.public_base_url.startswith("https://")
    assert settings.trusted_issuers  # not the local demo key
    ingress = next(d for d in documents(OVERLAY / "ingress.yaml") if d["kind"] == "Ingress")
    assert f"https://{ingress['spec']['rules'][0]['host']}" == settings.base_url  # the tokens' audience


def test_the_shipped_secret_is_empty_so_a_pod_without_a_real_key_refuses_to_start() -> None:
    [secret] = documents(BASE / "secret.yaml")
    assert secret["stringData"] == {"DN_CDS_PSEUDONYM_KEY": ""}
    environment = {**generated_settings(BASE / "kustomization.yaml"), **SECRET_VALUES}
    environment["DN_CDS_PSEUDONYM_KEY"] = secret["stringData"]["DN_CDS_PSEUDONYM_KEY"]
    with pytest.raises(ValueError, match="PSEUDONYM_KEY must be set"):
        Settings.from_env(environment)


def test_probes_ports_and_user_are_the_services() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    [container] = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    settings = Settings.from_env({**generated_settings(BASE / "kustomization.yaml"), **SECRET_VALUES})

    assert ports == {"http": settings.port, "metrics": settings.metrics_port}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    user = re.search(r"^USER (\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert user is not None and pod["securityContext"]["runAsUser"] == int(user.group(1))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    assert "/tmp" in mounts  # gunicorn's metrics files under a read-only root filesystem  # noqa: S108


def test_the_grace_period_covers_the_pre_stop_pause_and_gunicorns_graceful_timeout() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    pause = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])

    assert pod["terminationGracePeriodSeconds"] > pause + gunicorn_setting("graceful_timeout")


def test_the_proxy_fits_the_service_limits() -> None:
    proxy = (DEPLOY / "nginx" / "dn-cds-proxy.conf").read_text()
    body = re.search(r"client_max_body_size (\d+)m;", proxy)
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", proxy)

    assert body is not None and int(body.group(1)) * 1024 * 1024 == Settings().max_body_bytes
    assert read_timeout is not None and int(read_timeout.group(1)) > gunicorn_setting("timeout")
    assert "include /etc/nginx/dn-cds-proxy.conf;" in (DEPLOY / "compose" / "nginx.conf").read_text()


def test_the_compose_settings_are_accepted_by_the_service() -> None:
    compose = documents(DEPLOY / "compose" / "compose.yaml")[0]
    environment = compose["services"]["dn-cds-1"]["environment"]
    dot_env = {"POSTGRES_PASSWORD": "pw", "DN_CDS_PSEUDONYM_KEY": "k" * 64}  # what .env must give
    filled = {name: interpolate(str(value), dot_env) for name, value in environment.items()}

    settings = Settings.from_env(filled)

    assert settings.database_url.startswith("postgresql://dn_cds:pw@database:5432/")
    assert settings.base_url == "http://127.0.0.1:8080"  # the proxy's published port, the demo's --url
    assert set(compose["services"]) == {"database", "dn-cds-1", "dn-cds-2", "proxy"}


def test_every_dn_cds_name_in_deploy_is_a_documented_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(DN_CDS_\w+)`", readme, re.MULTILINE))
    used: set[str] = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            used |= set(re.findall(r"\bDN_CDS_[A-Z_]+[A-Z]\b", path.read_text()))

    assert used, "deploy/ names no setting"
    assert used <= documented, used - documented
