# The seamline image: one image for every process (`seamline source run NAME`, `seamline process`,
# `seamline sink run NAME`) and for the sandbox simulations (`python -m sandbox.<system>`).
# The configuration file is mounted at /etc/seamline/seamline.yaml; its ${SECRETS} come from the environment.
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEAMLINE_CONFIG=/etc/seamline/seamline.yaml

WORKDIR /opt/seamline
COPY pyproject.toml README.md ./
COPY seamline ./seamline
COPY producers ./producers
COPY processors ./processors
COPY sinks ./sinks
COPY sandbox ./sandbox
COPY schemas ./schemas
COPY examples ./examples
# Editable, so that seamline finds schemas/ next to its package as in a checkout.
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /var/lib/seamline --create-home seamline

USER seamline
WORKDIR /var/lib/seamline
ENTRYPOINT ["seamline"]
CMD ["--help"]
