# syntax=docker/dockerfile:1
#
# astroingest container image: a static Go binary on distroless.
#   docker build -t astroingest .
#
# Base images are pinned by tag here, for readability; the release pipeline
# pins both by digest (golang:1.26-bookworm@sha256:..., and likewise the
# distroless image) so a release is reproducible and a retagged base cannot
# slip in. deploy/dockerfile_test.go checks the pins and the build line.

# The build stage runs on the builder's own platform and cross-compiles, so
# multi-platform builds (buildx --platform linux/amd64,linux/arm64) need no
# emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src

# Modules first: this layer is reused while go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
# CGO off: the binary must run on distroless/static, which has no libc.
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags='-s -w' -o /out/astroingest ./cmd/astroingest

# distroless static: CA certificates, tzdata and a nonroot user, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/astroingest /astroingest
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# --metrics-listen :9090 (deploy/base/cronjob.yaml)
EXPOSE 9090
ENTRYPOINT ["/astroingest"]
CMD ["run"]
