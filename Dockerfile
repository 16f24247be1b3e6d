# syntax=docker/dockerfile:1
# EMRBridge production image.
#   docker build -t emr-bridge .
#   docker run --rm emr-bridge migrate      # apply sql/migrations
#   docker run emr-bridge                    # serve (default command)

# ---------------------------------------------------------------------------------------------------
# Build stage
FROM swift:6.2-bookworm AS builder

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends \
        libmariadb-dev libcrypt-dev libssl-dev libargon2-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Resolve dependencies first so this layer is cached while only sources change.
COPY Package.* ./
RUN swift package resolve

COPY . .
RUN swift build -c release --product emr-bridge --static-swift-stdlib \
    && mkdir -p /out \
    && cp "$(swift build -c release --product emr-bridge --static-swift-stdlib --show-bin-path)/emr-bridge" /out/emr-bridge

# ---------------------------------------------------------------------------------------------------
# Runtime stage. The Swift runtime and Foundation are linked statically; the C libraries below are the
# runtime halves of the -dev packages used in the build stage.
FROM debian:bookworm-slim

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends \
        libmariadb3 libcrypt1 libssl3 libargon2-1 ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/*

# Non-root user. uid 1000 on purpose: the official openemr/openemr image runs Apache/PHP as uid 1000
# ("usermod -u 1000 apache"), and PHP writes its session files with mode 0600, so the bridge can read
# the shared session volume only as the same uid. Override with --build-arg APP_UID=... if your
# OpenEMR runs PHP under another uid.
ARG APP_UID=1000
ARG APP_GID=1000
RUN groupadd --gid "${APP_GID}" emrbridge \
    && useradd --uid "${APP_UID}" --gid "${APP_GID}" --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin emrbridge \
    && mkdir -p /var/lib/emr-bridge/audio && chown -R emrbridge:emrbridge /var/lib/emr-bridge

WORKDIR /app
COPY --from=builder /out/emr-bridge /app/emr-bridge
# Migrations are read from $BRIDGE_SQL_DIR/migrations.
COPY sql/ /app/sql/

ENV BRIDGE_SQL_DIR=/app/sql \
    BRIDGE_AUDIO_DIR=/var/lib/emr-bridge/audio \
    BRIDGE_HOST=0.0.0.0 \
    BRIDGE_PORT=8080

USER emrbridge:emrbridge
EXPOSE 8080
ENTRYPOINT ["/app/emr-bridge"]
CMD ["serve"]
