#!/usr/bin/env bash
# Scans the install script the build generates for extension-script hazards
# (docs/security.md): pgspot must find nothing (no CREATE OR REPLACE, no
# IF NOT EXISTS, no function without a pinned search_path, no unqualified
# reference outside one), and no SQL source may quote @extschema@.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

script="$ROOT/target/audit-install.sql"
cargo pgrx schema "pg$PG_MAJOR" --pg-config "$PG_CONFIG" -o "$script" >/dev/null 2>&1 || { echo "cargo pgrx schema failed" >&2; exit 1; }

status=0
report="$("$ROOT/target/tools/pgspot/bin/pgspot" "$script" 2>&1)" || status=$?
echo "$report"
if [ "$status" -ne 0 ] || ! grep -qE 'Errors: 0 Warnings: 0 Unknown: 0' <<<"$report"; then
    echo "pgspot found hazards in the install script ($script)" >&2
    exit 1
fi

if grep -rnE "[\"']@extschema@[\"']" src/sql sql "$script"; then
    echo "@extschema@ must not be quoted" >&2
    exit 1
fi
echo "install script scan: clean"
