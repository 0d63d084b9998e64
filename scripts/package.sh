#!/usr/bin/env bash
# `make package`: the release build as an installable tarball,
# target/package/audit-<version>-pg<major>-<arch>.tar.gz. Its paths are the
# installed ones (extract with `tar -xzf ... -C /` as root, or read them with
# `tar -tzf`); it holds the library, the control file, the current version's
# install script, the released versions' frozen install scripts and every
# upgrade script (sql/). (The PGXN metadata, META.json, describes the source
# distribution: the repository itself.)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

version="$VERSION"
dir="$(package_extension release)"
out="$ROOT/target/package"
mkdir -p "$out"
name="audit-$version-pg$PG_MAJOR-$(uname -m).tar.gz"
tar -czf "$out/$name" -C "$dir" --owner=0 --group=0 .
say "target/package/$name"
tar -tzf "$out/$name" | grep -v '/$'
