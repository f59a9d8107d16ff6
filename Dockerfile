# One image for every Shoebox service: `shoebox serve <service>`, `shoebox serve dataplane`,
# `shoebox migrate`. Build from the repository root: `docker build -t shoebox .`
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    # Compile once at build time: the root filesystem may be read-only at run time.
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    # Use this image's Python; never download another one.
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    PATH=/app/.venv/bin:$PATH

RUN pip install --no-cache-dir uv

WORKDIR /app

# Dependencies first, from the lock alone, so editing source does not reinstall them.
# Each workspace member's pyproject.toml is copied one by one: COPY would flatten a glob.
COPY pyproject.toml uv.lock ./
COPY libs/pyproject.toml libs/pyproject.toml
COPY services/auth/pyproject.toml services/auth/pyproject.toml
COPY services/metadata/pyproject.toml services/metadata/pyproject.toml
COPY services/uploads/pyproject.toml services/uploads/pyproject.toml
COPY services/replicator/pyproject.toml services/replicator/pyproject.toml
COPY services/compute/pyproject.toml services/compute/pyproject.toml
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace --no-cache

# Then the workspace itself. Only source is copied (not `.`), so a local .venv or data directory
# never ends up in the image.
COPY libs libs
COPY services services
COPY shoebox shoebox
COPY proto-schemas proto-schemas
RUN uv sync --frozen --no-dev --all-packages --no-cache \
    && python -m compileall -q libs services shoebox

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home shoebox
USER 10001:10001

EXPOSE 8000
ENTRYPOINT ["shoebox"]
CMD ["serve", "auth"]
