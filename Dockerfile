# Myelin container image: a static binary on an empty base, run as a
# non-root user, with everything it writes under the /data volume.
#
#   docker build -t myelin .
#   docker run -v myelin-data:/data -e SERVER_NAME=example.org myelin container generate
#   docker run -d -v myelin-data:/data -p 8008:8008 myelin
#
# The first command only writes /data/homeserver.yaml (edit it, e.g. for
# PostgreSQL); without it, the first start generates the config from
# SERVER_NAME by itself. See docs/deployment.md.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN scripts/build-static.sh /out/myelin "$VERSION" \
 && mkdir -p /out/data && chown 65532:65532 /out/data

FROM scratch
# Root certificates for federation, push gateways and URL previews.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=build /out/myelin /usr/local/bin/myelin
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
ENV CONFIG_PATH=/data/homeserver.yaml DATA_DIR=/data HTTP_PORT=8008
EXPOSE 8008
ENTRYPOINT ["/usr/local/bin/myelin"]
CMD ["container"]
