"""Schema check of rendered Kubernetes manifests (run by scripts/check-deploy.sh in .venv-deploy).

Every object is validated strictly (unknown fields are errors) against the Kubernetes OpenAPI schemas that
kubernetes-validate ships. Custom resources without a bundled schema (the CloudNativePG ``Cluster``) are
checked for the fields this deployment relies on. Exits 1 if any object fails, naming object and field.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

# Custom resources: (apiVersion, kind) -> spec fields that must be present.
CUSTOM_RESOURCES = {
    ("postgresql.cnpg.io/v1", "Cluster"): ("instances", "storage", "bootstrap"),
}


def problems(document: dict[str, Any], version: str) -> list[str]:
    kind, api_version = document.get("kind"), document.get("apiVersion")
    name = f"{kind}/{document.get('metadata', {}).get('name')}"
    required = CUSTOM_RESOURCES.get((str(api_version), str(kind)))
    if required is not None:
        spec = document.get("spec") or {}
        return [f"{name}: spec.{field} is missing" for field in required if field not in spec]
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path)
        return [f"{name}: {where or '(top)'}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{name}: no schema for {api_version} {kind} in Kubernetes {version}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubernetes-version", default="1.31.0")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = False
    for path in args.files:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
        found = [p for document in documents for p in problems(document, args.kubernetes_version)]
        for problem in found:
            print(f"{path.name}: {problem}")
        failed |= bool(found)
        if not found:
            print(f"{path.name}: {len(documents)} objects valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
