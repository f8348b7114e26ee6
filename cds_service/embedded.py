"""The service on an ephemeral loopback port, for commands that play the EHR (``demo``, ``check``)."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store import open_store


@contextmanager
def embedded_service(base: Settings, today: date | None = None) -> Iterator[str]:
    """The service on an ephemeral loopback port, for as long as the block runs; yields its base URL.

    It has the default authentication: it trusts the local client key in ``base.data_dir``, which
    :func:`cds_service.local_client.sign_service_request` signs with. ``today`` fixes its clock (default: the
    service's own clock in ``DN_CDS_TIMEZONE``). Its audit and feedback go to a scratch SQLite store that is
    deleted afterwards, so demonstration calls never enter the deployment's audit.
    """
    quieted = {"werkzeug": logging.WARNING, "dn_cds": logging.ERROR}
    previous_levels = {name: logging.getLogger(name).level for name in quieted}
    for name, level in quieted.items():
        logging.getLogger(name).setLevel(level)
    apps: list[Any] = []

    def application(environ: Any, start_response: Any) -> Any:
        return apps[0](environ, start_response)

    server = make_server("127.0.0.1", 0, application, threaded=True)
    settings = dataclasses.replace(
        base,
        host="127.0.0.1",
        port=server.server_port,
        public_base_url="",
        auth="required",
        trusted_issuers=(),
    )
    with tempfile.TemporaryDirectory(prefix="dn-cds-embedded-") as scratch:
        scratch_settings = dataclasses.replace(
            settings, data_dir=Path(scratch), database_url="", pseudonym_key=""
        )
        store = open_store(scratch_settings)
        clock = {} if today is None else {"today": lambda: today}
        apps.append(create_app(settings, store=store, **clock))  # type: ignore[arg-type]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield settings.base_url
        finally:
            server.shutdown()
            store.close()
            for name, level in previous_levels.items():
                logging.getLogger(name).setLevel(level)
