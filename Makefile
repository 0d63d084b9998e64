# The two commands a fresh machine needs: `make demo` and `make test`.
# Both install what is missing first (scripts/bootstrap.sh).

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

.PHONY: test demo demo-stop install bootstrap lint bench-restore

test:
	scripts/test.sh

demo:
	scripts/demo.sh start

demo-stop:
	scripts/demo.sh stop

install: bootstrap
	cargo pgrx install --release --sudo --pg-config $(PG_CONFIG)

bootstrap:
	scripts/bootstrap.sh

# Module rollback of 10,000 changed rows across 3 tables (docs/restore.md).
bench-restore:
	bench/restore_rollback.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
