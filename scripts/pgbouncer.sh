#!/usr/bin/env bash
# Starts Debian's PgBouncer on 127.0.0.1:6432 in transaction mode, in front of the PostgreSQL server on
# 127.0.0.1:5432 (trust auth), as the drizzle tests behind a pooler expect. Idempotent: exits at once when it is
# already answering. Then: PGBOUNCER_URL=postgres://postgres@127.0.0.1:6432/jetstream_pooled
set -euo pipefail

if pg_isready -q -h 127.0.0.1 -p 6432; then exit 0; fi
if ! command -v pgbouncer >/dev/null 2>&1; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer
fi

dir=/tmp/jetstream-pgbouncer
mkdir -p "$dir"
# Trust, as the server behind it; PgBouncer still wants each user listed.
echo '"postgres" ""' > "$dir/users.txt"
cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 10
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
chown -R postgres "$dir"
# PgBouncer refuses to run as root: -u drops to the postgres user.
if [ "$(id -u)" = 0 ]; then pgbouncer -d -u postgres "$dir/pgbouncer.ini"; else pgbouncer -d "$dir/pgbouncer.ini"; fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 6432 && break; sleep 0.5; done
pg_isready -h 127.0.0.1 -p 6432
