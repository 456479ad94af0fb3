# latchkey in a container: docker build -t latchkey . && docker run --rm -p 6379:6379 latchkey
#
# Two stages: the build stage compiles the release binary with the oldest Rust toolchain the
# crate supports (`rust-version` in Cargo.toml), the runtime stage is Debian slim with the binary,
# redis-cli for the health check, and a non-root user. Flags are set with LATCHKEY_* environment
# variables (every flag has one) or as arguments: docker run latchkey --requirepass s3cret.

FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p latchkey --bin latchkey \
    && install -m 0755 target/release/latchkey /usr/local/bin/latchkey

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin latchkey
COPY --from=build /usr/local/bin/latchkey /usr/local/bin/latchkey
USER latchkey
# Listen on every interface of the container. Protected mode is off, as in the official Redis
# image: clients reach a container from outside its loopback interface, and the container's
# network is the boundary. Set LATCHKEY_REQUIREPASS (or an ACL file) before exposing it wider.
# DEBUG stays `local` (loopback clients only); tests that move the clock over the wire from
# outside the container set LATCHKEY_ENABLE_DEBUG_COMMAND=yes.
ENV LATCHKEY_BIND=0.0.0.0 \
    LATCHKEY_PORT=6379 \
    LATCHKEY_PROTECTED_MODE=no
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 \
    CMD redis-cli -p "$LATCHKEY_PORT" PING | grep -qE '^(PONG|NOAUTH)' || exit 1
ENTRYPOINT ["latchkey"]
