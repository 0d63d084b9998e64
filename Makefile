# The two commands a fresh machine needs: `make demo` and `make test`.
# Both install what is missing first (scripts/bootstrap.sh).

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

.PHONY: test demo demo-stop install package bootstrap lint bench bench-capture bench-historial bench-restore bench-metadata-index

test:
	scripts/test.sh

demo:
	scripts/demo.sh start

demo-stop:
	scripts/demo.sh stop

# (Not `cargo pgrx install`: see install_extension in scripts/lib.sh.)
install: bootstrap
	bash -c 'source scripts/lib.sh && install_extension release'


# An installable artifact: target/package/audit-<version>-pg15-<arch>.tar.gz,
# the release build's files as they are installed (extract at / as root),
# with every released version's install script and every upgrade script.
package: bootstrap
	scripts/package.sh

bootstrap:
	scripts/bootstrap.sh

# Every benchmark, each on its own throwaway cluster with a release build
# (docs/performance.md): capture overhead against bare PostgreSQL and a
# PL/pgSQL trigger of the same design, history-query plans, module rollback.
bench: bench-capture bench-historial bench-restore bench-metadata-index

bench-capture:
	bench/capture_overhead.sh

bench-historial:
	bench/historial_plans.sh

# Module rollback of 10,000 changed rows across 3 tables (docs/restore.md).
bench-restore:
	bench/restore_rollback.sh

# What the index of the events with metadata costs the capture (con/sin).
bench-metadata-index:
	bench/metadata_index_cost.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
