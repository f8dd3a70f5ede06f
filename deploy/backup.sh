#!/usr/bin/env bash
# Back up Returns Desk: the database and the evidence files (DATA_DIR/evidence).
#
#   deploy/backup.sh [BACKUP_DIR]
#
# Run it in the directory that holds the .env (/opt/returns-desk), as the user that runs the
# bot. Each run makes BACKUP_DIR/returns-desk-<UTC time>/ with
#   returns-desk.sqlite3   an online copy of the SQLite database (safe while the bot runs), or
#   returns-desk.pgdump    a PostgreSQL dump (pg_dump -Fc; restore with pg_restore),
#   evidence/              the photos and videos (rsync; files unchanged since the previous
#                          backup are hard links, so a nightly backup costs only what is new),
#                          or evidence.tar where rsync is missing,
# and keeps the last BACKUP_KEEP of them. The database is copied first, so every file it
# refers to is in the evidence copy. Copy BACKUP_DIR to another machine too.
#
# Settings, from the environment or else from ./.env (ENV_FILE=... for another file):
#   DATA_DIR, DATABASE_URL   as for the bot (default: data, SQLite in it)
#   BACKUP_DIR               where backups go when no argument is given (default: backups)
#   BACKUP_KEEP              how many backups to keep (default: 14)
#   BACKUP_EVIDENCE_DIR      the evidence directory (default: DATA_DIR/evidence)
#   BACKUP_PG_DUMP           a command that writes a PostgreSQL custom-format dump to standard
#                            output, used instead of pg_dump with DATABASE_URL; for compose:
#                            "docker compose -f deploy/compose.yaml exec -T postgres
#                             pg_dump -Fc -U returns_desk returns_desk"
#   SQLITE3, PYTHON          the sqlite3 command (Python's sqlite3 module is used when it is
#                            missing, or when SQLITE3 is empty) and the Python (python3)
set -euo pipefail

die() {
    echo "backup: error: $*" >&2
    exit 1
}

ENV_FILE=${ENV_FILE:-.env}

# The value of NAME in ENV_FILE (the last assignment), without quotes; empty when absent.
from_env_file() {
    local line value
    [[ -r $ENV_FILE ]] || return 0
    line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=" "$ENV_FILE" | tail -n 1) \
        || return 0
    value=${line#*=}
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    if [[ $value == \"*\" || $value == \'*\' ]]; then
        value=${value:1:${#value}-2}
    fi
    printf '%s' "$value"
}

setting() { # NAME DEFAULT: the environment first, then the .env file, then DEFAULT
    local value=${!1:-}
    [[ -n $value ]] || value=$(from_env_file "$1")
    printf '%s' "${value:-$2}"
}

human() { # bytes -> "12.3 MB"
    awk -v b="$1" 'BEGIN { split("B KB MB GB TB", u); i = 1;
        while (b >= 1000 && i < 5) { b /= 1000; i++ }
        printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

size_of() { find "$1" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }'; }

data_dir=$(setting DATA_DIR data)
database_url=$(setting DATABASE_URL "")
evidence_dir=$(setting BACKUP_EVIDENCE_DIR "$data_dir/evidence")
keep=$(setting BACKUP_KEEP 14)
dest_root=${1:-$(setting BACKUP_DIR backups)}
pg_dump_cmd=$(setting BACKUP_PG_DUMP "")
sqlite3_cmd=${SQLITE3-sqlite3}
python=${PYTHON:-python3}

[[ $keep =~ ^[1-9][0-9]*$ ]] || die "BACKUP_KEEP must be a whole number of backups (1 or more): $keep"

umask 077
mkdir -p -- "$dest_root"
dest_root=$(cd -- "$dest_root" && pwd)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final=$dest_root/returns-desk-$stamp
work=$dest_root/.partial-$stamp
[[ ! -e $final ]] || die "$final already exists (two backups in the same second?)"
# The previous complete backup, for the evidence hard links.
previous=$(find "$dest_root" -mindepth 1 -maxdepth 1 -type d -name 'returns-desk-*' | sort | tail -n 1)
trap 'rm -rf -- "$work"' EXIT
mkdir -- "$work"

echo "Returns Desk backup $stamp -> $final"

# ---- The database ---------------------------------------------------------------------------
backup_sqlite() {
    local db=$1 out=$work/returns-desk.sqlite3 how check
    [[ -f $db ]] || die "no SQLite database at $db (check DATA_DIR / DATABASE_URL, and the directory)"
    db=$(cd -- "$(dirname -- "$db")" && pwd)/$(basename -- "$db")
    if [[ -n $sqlite3_cmd ]] && command -v "$sqlite3_cmd" >/dev/null; then
        # The online backup API: a consistent copy, WAL included, while the bot writes.
        (cd -- "$work" && "$sqlite3_cmd" -bail "$db" ".timeout 30000" ".backup returns-desk.sqlite3")
        check=$("$sqlite3_cmd" -bail "$out" "PRAGMA journal_mode=DELETE;" "PRAGMA integrity_check;" | tail -n 1)
        how="sqlite3 .backup"
    else
        command -v "$python" >/dev/null || die "neither sqlite3 nor $python is installed"
        check=$("$python" - "$db" "$out" <<'PY'
import sqlite3, sys
source = sqlite3.connect(sys.argv[1], timeout=30)
target = sqlite3.connect(sys.argv[2])
source.backup(target)  # the online backup API, as the sqlite3 command's .backup
source.close()
target.execute("PRAGMA journal_mode=DELETE")
print(target.execute("PRAGMA integrity_check").fetchone()[0])
target.close()
PY
        )
        how="Python sqlite3 backup"
    fi
    [[ $check == ok ]] || die "the copy of $db fails its integrity check: $check"
    echo "database: SQLite $db -> returns-desk.sqlite3 ($(human "$(size_of "$out")"), $how, integrity ok)"
}

# postgresql+asyncpg://user:pass@host:port/db?ssl=require -> pg_url, a libpq URL without the
# password, which goes in PGPASSWORD (so that it does not show in the process list).
set_pg_url() {
    local rest=${1#*://} query="" userinfo hostpart sslmode="" pair
    if [[ $rest == *\?* ]]; then
        query=${rest#*\?}
        rest=${rest%%\?*}
    fi
    if [[ $rest == *@* ]]; then
        userinfo=${rest%@*}
        hostpart=${rest##*@}
        if [[ $userinfo == *:* ]]; then
            local password=${userinfo#*:}
            printf -v PGPASSWORD '%b' "${password//%/\\x}"  # undo the URL's %-encoding
            export PGPASSWORD
            userinfo=${userinfo%%:*}
        fi
        rest=$userinfo@$hostpart
    fi
    # asyncpg's ssl=... is libpq's sslmode=...; asyncpg's other options mean nothing to pg_dump.
    local IFS='&'
    for pair in $query; do
        case $pair in
            ssl=true) sslmode=require ;;
            ssl=*) sslmode=${pair#ssl=} ;;
        esac
    done
    pg_url=postgresql://$rest${sslmode:+?sslmode=$sslmode}
}

backup_postgres() {
    local out=$work/returns-desk.pgdump how entries
    if [[ -n $pg_dump_cmd ]]; then
        sh -c "$pg_dump_cmd" >"$out" || die "BACKUP_PG_DUMP failed: $pg_dump_cmd"
        how=$pg_dump_cmd
    else
        command -v pg_dump >/dev/null \
            || die "pg_dump is missing (Debian/Ubuntu: apt install postgresql-client)"
        set_pg_url "$database_url"
        pg_dump --format=custom --file="$out" --dbname="$pg_url" \
            || die "pg_dump failed (${pg_url%%\?*})"
        how="pg_dump -Fc ${pg_url%%\?*}"
    fi
    [[ -s $out ]] || die "the dump is empty"
    if command -v pg_restore >/dev/null; then
        entries=$(pg_restore --list "$out" | awk '!/^;/ && NF { n++ } END { print n + 0 }') \
            || die "pg_restore cannot read the dump"
        how="$how, $entries entries"
    fi
    echo "database: PostgreSQL -> returns-desk.pgdump ($(human "$(size_of "$out")"), $how)"
}

case ${pg_dump_cmd:+pg_dump command}$database_url in
    "pg_dump command"*) backup_postgres ;;
    "") backup_sqlite "$data_dir/returns-desk.sqlite3" ;;
    sqlite+aiosqlite:///*)
        path=${database_url#sqlite+aiosqlite:///}
        backup_sqlite "${path%%\?*}"
        ;;
    postgresql+asyncpg://* | postgresql://*) backup_postgres ;;
    *) die "DATABASE_URL: not a database this script knows: ${database_url%%:*}://..." ;;
esac

# ---- The evidence files ---------------------------------------------------------------------
if [[ -d $evidence_dir ]]; then
    files=$(find "$evidence_dir" -type f ! -name '.incoming-*' | wc -l | tr -d ' ')
    if command -v rsync >/dev/null; then
        link=()
        if [[ -n $previous && -d $previous/evidence ]]; then
            link=(--link-dest="$previous/evidence")
        fi
        # .incoming-* are downloads in progress.
        rsync -a --exclude='.incoming-*' "${link[@]}" -- "$evidence_dir/" "$work/evidence/"
        new=$(find "$work/evidence" -type f -links 1 | wc -l | tr -d ' ')
        echo "evidence: $evidence_dir -> evidence/ ($files files, $(human "$(size_of "$work/evidence")"); $new new since the previous backup)"
    else
        tar -C "$evidence_dir" --exclude='.incoming-*' -cf "$work/evidence.tar" .
        echo "evidence: $evidence_dir -> evidence.tar ($files files, $(human "$(size_of "$work/evidence.tar")"))"
    fi
else
    echo "evidence: none yet ($evidence_dir does not exist)"
fi

mv -- "$work" "$final"
trap - EXIT

# ---- Keep the last BACKUP_KEEP --------------------------------------------------------------
mapfile -t all < <(find "$dest_root" -mindepth 1 -maxdepth 1 -type d -name 'returns-desk-*' | sort)
removed=0
for ((i = 0; i < ${#all[@]} - keep; i++)); do
    rm -rf -- "${all[i]}"
    echo "removed the old backup $(basename -- "${all[i]}")"
    removed=$((removed + 1))
done
echo "done: $final ($(human "$(size_of "$final")")); backups kept in $dest_root: $((${#all[@]} - removed)) (at most $keep)"
