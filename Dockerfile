# The seamline image: one image for every process (`seamline source run NAME`, `seamline process`,
# `seamline sink run NAME`) and for the sandbox simulations (`python -m sandbox.<system>`).
# The configuration file is mounted at /etc/seamline/seamline.yaml; its ${SECRETS} come from the environment.

# The wheel, built from the sources alone: the schemas and the local stack's files are package data in it.
FROM python:3.12-slim AS wheel
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY seamline ./seamline
COPY producers ./producers
COPY processors ./processors
COPY sinks ./sinks
COPY notify ./notify
COPY sandbox ./sandbox
COPY schemas ./schemas
# Only the local stack's files (.dockerignore): the wheel ships them, not the Compose or Kubernetes ones.
COPY deploy ./deploy
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEAMLINE_CONFIG=/etc/seamline/seamline.yaml

COPY --from=wheel /wheels /tmp/wheels
# A normal install: seamline runs from site-packages, no source tree in the image.
RUN pip install /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/seamline --create-home seamline
COPY examples /opt/seamline/examples

USER seamline
WORKDIR /var/lib/seamline
ENTRYPOINT ["seamline"]
CMD ["--help"]
