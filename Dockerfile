# syntax=docker/dockerfile:1
# memcons peer image: `docker compose up` runs three of them (see
# docker-compose.yml); alone it runs peer1 of the shipped config.ini.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/memcons .

FROM debian:trixie-slim
RUN useradd --system --user-group --home-dir /var/lib/memcons memcons \
 && mkdir -p /var/lib/memcons/data \
 && chown -R memcons:memcons /var/lib/memcons
COPY --from=build /out/memcons /usr/local/bin/memcons
COPY config.ini /etc/memcons/config.ini
WORKDIR /var/lib/memcons
USER memcons
# Peers keep their state under <data_dir>/<name>: mount a volume here.
ENV MEMCONS_CLUSTER_DATA_DIR=/var/lib/memcons/data
VOLUME ["/var/lib/memcons/data"]
# client ports 8000-8002, peer ports 7000-7002 of the shipped config
EXPOSE 8000-8002 7000-7002
ENTRYPOINT ["memcons"]
CMD ["serve", "--config", "/etc/memcons/config.ini", "--name", "peer1", "--cluster.store", "memory"]
