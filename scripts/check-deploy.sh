#!/usr/bin/env bash
# Offline checks of deploy/ (CI calls this; no cluster, no network beyond installing the tools):
#  1. render: `kubectl kustomize` of the base and of the example overlay (kubectl >= 1.21 for its kustomize;
#     the python machine image ships one; otherwise install kubectl and re-run);
#  2. schema: every rendered object against the Kubernetes OpenAPI schemas, strictly (unknown fields refused),
#     with kubernetes-validate (scripts/validate_manifests.py); the CloudNativePG Cluster has no bundled schema
#     and is checked for its required fields only;
#  3. policy: checkov on the rendered overlay and on the Dockerfile; every finding is fixed, or skipped by an
#     annotation in the manifest that says why (checkov.io/skipN).
# The tools live in their own virtual environment, .venv-deploy (checkov is large), installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION="${DN_CDS_KUBERNETES_VERSION:-1.31.0}"
VENV="${DN_CDS_DEPLOY_VENV:-.venv-deploy}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

if ! command -v kubectl >/dev/null 2>&1; then
    echo "check-deploy: kubectl not found; install kubectl (1.21 or newer) to render the kustomizations" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/checkov" ] || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    echo "check-deploy: installing checkov and kubernetes-validate in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "checkov>=3.2" "kubernetes-validate>=1.31" "pyyaml>=6"
fi

echo "== render"
kubectl kustomize deploy/kubernetes/base >"$OUT/base.yaml"
kubectl kustomize deploy/kubernetes/overlays/example >"$OUT/example.yaml"
echo "rendered: base $(grep -c '^kind:' "$OUT/base.yaml") objects, example overlay $(grep -c '^kind:' "$OUT/example.yaml") objects"

echo "== schema (Kubernetes $KUBERNETES_VERSION, strict)"
"$VENV/bin/python" scripts/validate_manifests.py --kubernetes-version "$KUBERNETES_VERSION" \
    "$OUT/base.yaml" "$OUT/example.yaml"
# The check can fail: a Deployment with a misspelt field must be refused.
sed 's/^  replicas: 2/  replicas: 2\n  replicaz: 2/' "$OUT/base.yaml" >"$OUT/misspelt.yaml"
if "$VENV/bin/python" scripts/validate_manifests.py --kubernetes-version "$KUBERNETES_VERSION" \
    "$OUT/misspelt.yaml" >/dev/null; then
    echo "check-deploy: the schema check accepted a misspelt field" >&2
    exit 1
fi

echo "== policy (checkov)"
# --skip-download: checkov asks no server for guidelines (offline; the built-in checks are all used).
"$VENV/bin/checkov" --quiet --compact --skip-download --framework kubernetes -f "$OUT/example.yaml"
"$VENV/bin/checkov" --quiet --compact --skip-download --framework dockerfile -f Dockerfile
echo "check-deploy: OK"
