# The blocksconvert image named by the Kubernetes manifests in jobs/
# (ghcr.io/blocksconvert/blocksconvert:<version>, a placeholder registry:
# push to your own and override `images:` in your overlay).
#
#   docker build -t registry.example.com/blocksconvert:0.1.0 .
#
# Build stage: the Rust toolchain; --locked builds exactly Cargo.lock.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin blocksconvert

# Runtime stage: CA certificates for S3/GCS/Bigtable/DynamoDB over TLS, and
# a non-root user whose uid the manifests' securityContext names.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 blocksconvert \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /work --shell /usr/sbin/nologin blocksconvert
COPY --from=build /src/target/release/blocksconvert /usr/local/bin/blocksconvert
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/blocksconvert"]
CMD ["--help"]
