# syntax=docker/dockerfile:1
#
# pipebot: a static Go binary on distroless, running as uid 65532 with its
# bbolt database on the /data volume.
#
#   docker build --build-arg VERSION=1.2.3 --build-arg COMMIT=$(git rev-parse --short HEAD) -t pipebot .
#   docker run -v pipebot-data:/data -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN -e GITLAB_TOKEN pipebot
#
# There is no HEALTHCHECK: the distroless image has no shell or curl to run
# one. Point the orchestrator's probes at the HTTP server instead:
# GET /healthz (liveness) and GET /readyz (readiness) on port 8080.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first, so the module cache layer survives source changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/pipebot ./cmd/bot \
 && mkdir -p /out/data

# static-debian12 carries CA certificates, tzdata (schedule time zones) and
# the nonroot user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pipebot /pipebot
# Create /data owned by nonroot so a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
VOLUME /data
ENV PIPEBOT_DB_PATH=/data/pipebot.db
EXPOSE 8080
ENTRYPOINT ["/pipebot"]
CMD ["serve"]
