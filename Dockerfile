# syntax=docker/dockerfile:1
#
# A partyline node. Built with the repository's own scripts, as README.md
# does on a Debian 12 machine, so the image holds nothing the tests have not
# run:
#
#   docker build -t partyline .
#   docker run --rm -p 1999:1999 partyline      # one node, embedded nats-server
#
# docker-compose.yml runs three of these behind HAProxy on a NATS cluster
# (see deploy/README.md).

# --- build: scripts/install-deps.sh and scripts/build.sh, nothing else --------
FROM debian:bookworm AS build
WORKDIR /src
# The dependencies first, so a source change does not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash scripts/build.sh

# --- runtime: the shared libraries the binary links, and nats-server ---------
FROM debian:bookworm-slim
# nats-server serves `nats: {url: embedded}` (the default configuration);
# curl is the health check's client; libcurl4 makes a room's fetch calls, and
# ca-certificates is the store their HTTPS is verified against.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnats3.4 libcivetweb1 liblua5.4-0 libyaml-cpp0.7 libssl3 libcurl4 nats-server curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/build/partyline /usr/bin/partyline
# The binary falls back to /usr/share/partyline for the example party and
# the page at /chat/.
COPY --from=build /src/examples /usr/share/partyline/examples
COPY config/partyline.yaml config/cluster.yaml /etc/partyline/
# Relative script paths are relative to the configuration file: the shipped
# configurations' examples/chat/room.lua resolves through this link, as
# config/examples does in the repository.
RUN ln -s /usr/share/partyline/examples /etc/partyline/examples

# The working directory is the node's own: data_dir (.partyline, the embedded
# nats-server's store; created here so a volume mounted on it is writable)
# lives here.
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/partyline \
      --create-home --shell /usr/sbin/nologin partyline \
 && install -d -o partyline -g partyline /var/lib/partyline/.partyline
USER partyline
WORKDIR /var/lib/partyline

EXPOSE 1999
# Ready: connected to NATS with JetStream answering. Checks port 1999, the
# `listen` of both shipped configurations.
HEALTHCHECK --interval=5s --timeout=3s --start-period=15s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:1999/readyz || exit 1

# SIGTERM (docker stop) drains the node and exits.
ENTRYPOINT ["partyline", "serve"]
CMD ["--config", "/etc/partyline/partyline.yaml"]
