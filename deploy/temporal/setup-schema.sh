#!/bin/sh
# One-shot job (temporalio/admin-tools): create Temporal's databases and bring their schema up to date.
# Idempotent: re-running against an existing database only applies missing versions.
set -eu
PG="--plugin postgres12 --ep ${POSTGRES_SEEDS} -u ${POSTGRES_USER} -p ${DB_PORT}"
for db in temporal temporal_visibility; do
  temporal-sql-tool $PG --db "$db" create || true
done
temporal-sql-tool $PG --db temporal setup-schema -v 0.0 || true
temporal-sql-tool $PG --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
temporal-sql-tool $PG --db temporal_visibility setup-schema -v 0.0 || true
temporal-sql-tool $PG --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "temporal schema ready"
