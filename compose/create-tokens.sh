#!/bin/sh
# The compose stack's tokens (compose/docker-compose.yml, docs/security.md): one ingest token for
# each service that sends to the sidecar, made once in the sidecar's database and left in the
# jobpulse-secrets volume, where that service reads it. A token whose file is there is kept; one
# whose file is gone is replaced. `docker compose down -v` removes both the database and the files.
set -eu

make_token() {
    file="/secrets/$1.token"
    [ -s "$file" ] && return 0
    # Readable by the other containers' users (Alertmanager runs as nobody): the volume is shared
    # with the services that need the tokens, and with nothing else.
    umask 022
    jobpulse tokens create "$1" --role ingest --replace > "$file.new"
    mv "$file.new" "$file"
}

make_token alertmanager
make_token otel-collector
