#!/usr/bin/env bash
# Build a base image for the Dockerfile from Debian's packages, for machines
# that reach Debian's package mirror but no image registry:
#   deploy/local-base-image.sh            # -> localhost/echo-model-base:bookworm
#   podman build --format docker --build-arg BASE=localhost/echo-model-base:bookworm .
# Needs root, debootstrap and podman (apt-get install debootstrap podman).
set -euo pipefail
tag="${1:-localhost/echo-model-base:bookworm}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
# Debian 12's python3 is 3.11, the version the official slim image has.
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" --numeric-owner -c . | podman import --change 'CMD ["python3"]' - "$tag"
