"""The serving stack with no service in it (a measurement aid for ``benchmark_charts.py --stack-floor``).

A Flask app with one route that does what every hook call must before any rule runs: read the whole request
body, parse it with ``orjson``, and answer ``{"cards": []}``. Served by the same gunicorn configuration as
``dn-cds serve`` (``cds_service.gunicorn_config``: gevent workers, one per core), its latency for a chart's
body is the floor the stack the design card fixes (Python, Flask, gunicorn) puts under the service: what is
left above it is the service's own work (limits, rules, cards, audit record and its commit).
"""

from __future__ import annotations

import orjson
from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/cds-services/<service_id>")
def hook_call(service_id: str) -> Response:
    body = orjson.loads(request.get_data())
    return Response(orjson.dumps({"cards": [], "hook": body.get("hook")}), mimetype="application/json")


@app.get("/healthz")
def health() -> Response:
    return Response(b'{"status": "ok"}', mimetype="application/json")
