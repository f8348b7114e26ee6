# Production image: the service under gunicorn as a non-root user.
# CI has no Docker engine; scripts/dockerfile_smoke.py replays this file's ENV, pip install and CMD
# (as the same non-root uid when CI runs as root), so the steps below are exercised on every run.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 dncds \
    && useradd --system --uid 10001 --gid dncds --create-home --home-dir /home/dncds dncds

WORKDIR /app
# The locked dependencies first (exact versions with hashes, requirements/runtime.txt: bash scripts/lock.sh
# refreshes it), then the package itself without resolving anything again.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md LICENSE ./
COPY cds_service ./cds_service
COPY cards ./cards
COPY fhir_mappings ./fhir_mappings
RUN pip install --no-deps .
# The SQLite audit/feedback store, the pseudonym key and the local demo client's key live here: mount a volume
# (docker run -v dn-cds-data:/home/dncds/data, as the README's example does), or set DN_CDS_DATABASE_URL and
# DN_CDS_PSEUDONYM_KEY. With a read-only root filesystem, /tmp must be writable (gunicorn's metrics files).
RUN mkdir -p /home/dncds/data && chown dncds:dncds /home/dncds/data
VOLUME ["/home/dncds/data"]

USER 10001
ENV DN_CDS_HOST=0.0.0.0 \
    DN_CDS_PORT=8080 \
    DN_CDS_DATA_DIR=/home/dncds/data
EXPOSE 8080
# The health check follows DN_CDS_PORT (docker run -e DN_CDS_PORT=9000 ... keeps it working).
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DN_CDS_PORT', '8080').strip() + '/healthz', timeout=3)"]
CMD ["python", "-m", "gevent.monkey", "--module", "gunicorn", "--config", "python:cds_service.gunicorn_config", "cds_service.wsgi:app"]
