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

# Upgrade scripts: the same hazards, with one exception. A function whose
# body changes is replaced in place (CREATE OR REPLACE, pgspot's PS002):
# PostgreSQL 15 refuses that for an object that is not already a member of
# the extension, so nothing can be captured this way, and replacing in place
# keeps the grants a DBA gave on the function (a DROP and CREATE would lose
# them).
for upgrade in "$ROOT"/sql/audit--*--*.sql; do
    [ -e "$upgrade" ] || continue
    report="$("$ROOT/target/tools/pgspot/bin/pgspot" --ignore PS002 "$upgrade" 2>&1)" || status=$?
    echo "$(basename "$upgrade"): $(grep -E 'Errors:' <<<"$report")"
    if [ "$status" -ne 0 ] || ! grep -qE 'Errors: 0 Warnings: 0 Unknown: 0' <<<"$report"; then
        echo "$report"
        echo "pgspot found hazards in $upgrade" >&2
        exit 1
    fi
done

if grep -rnE "[\"']@extschema@[\"']" src/sql sql "$script"; then
    echo "@extschema@ must not be quoted" >&2
    exit 1
fi
# The version is said the same way everywhere a packager reads it.
version="$VERSION"
grep -q "\"version\": \"$version\"" "$ROOT/META.json" \
    || { echo "META.json does not give version $version (Cargo.toml)" >&2; exit 1; }
grep -q "^## $version " "$ROOT/CHANGELOG.md" \
    || { echo "CHANGELOG.md has no section for version $version" >&2; exit 1; }
# A released version's SQL is frozen: when sql/ holds the current version's
# install script, the generated one must create the same objects. Lines are
# compared sorted (the generator's order of blocks varies), without the
# generator's comments that name Rust source lines and paths (they move
# with any edit of the Rust code and change nothing in the database).
frozen="$ROOT/sql/audit--$version.sql"
sql_lines() { grep -vE '^-- (src/[^ ]+:[0-9]+|[a-z_]+(::[a-z_0-9]+)+)$' "$1" | sort; }
if [ -f "$frozen" ] && ! diff -q <(sql_lines "$script") <(sql_lines "$frozen") >/dev/null; then
    { diff <(sql_lines "$frozen") <(sql_lines "$script") || true; } | head -40 >&2
    echo "the SQL of $version, a released version, changed: move Cargo.toml's version on, and write the change into the upgrade script from $version (docs/development.md)" >&2
    exit 1
fi
echo "install script scan: clean"
