#!/usr/bin/env bash
# Installs everything the project needs that a fresh Debian 12 machine lacks.
# Idempotent: each step is skipped when already done.
source "$(dirname "$0")/lib.sh"

# chromium and its WebDriver run the console's browser tests; openssl signs
# the demo's tokens.
packages=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib clang libclang-dev sudo
          chromium chromium-driver openssl)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        say "installing rust component $component"
        rustup component add "$component"
    fi
done

if ! cargo pgrx --version 2>/dev/null | grep -qF "$PGRX_VERSION"; then
    say "installing cargo-pgrx $PGRX_VERSION (takes a few minutes)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qF "pg$PG_MAJOR = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml" 2>/dev/null; then
    say "cargo pgrx init --pg$PG_MAJOR=$PG_CONFIG"
    cargo pgrx init "--pg$PG_MAJOR=$PG_CONFIG" >/dev/null
fi

# pgspot (PyPI) scans the generated install script (scripts/scan_sql.sh).
PGSPOT_VERSION=0.9.4
PGSPOT_VENV="$ROOT/target/tools/pgspot"
if ! "$PGSPOT_VENV/bin/pgspot" --version 2>/dev/null | grep -qF "$PGSPOT_VERSION"; then
    say "installing pgspot $PGSPOT_VERSION"
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    rm -rf "$PGSPOT_VENV"
    python3 -m venv "$PGSPOT_VENV"
    "$PGSPOT_VENV/bin/pip" install --quiet --disable-pip-version-check "pgspot==$PGSPOT_VERSION"
fi
