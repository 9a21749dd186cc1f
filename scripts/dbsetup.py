"""Database preparation for bootstrap.sh, with only psycopg (Django is not configured yet).

--server-info  prints "<major version> <local|remote>" of the server in DATABASE_URL;
--ensure       creates the database and the PostGIS extension when missing.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import unquote, urlparse

import psycopg
from psycopg import sql


def connect(dbname: str) -> psycopg.Connection:
    url = urlparse(os.environ["DATABASE_URL"])
    return psycopg.connect(
        host=url.hostname or None, port=url.port or 5432, user=unquote(url.username or "") or None,
        password=unquote(url.password or "") or None, dbname=dbname, autocommit=True,
        connect_timeout=10)


def main() -> int:
    url = urlparse(os.environ["DATABASE_URL"])
    name = unquote(url.path.lstrip("/")) or "csu_hub"
    if sys.argv[1:] == ["--server-info"]:
        with connect("postgres") as conn:
            major = conn.info.server_version // 10000
        local = url.hostname in (None, "", "localhost", "127.0.0.1", "::1")
        print(major, "local" if local else "remote")
        return 0
    if sys.argv[1:] == ["--ensure"]:
        with connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"[bootstrap] created database {name}")
        with connect(name) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
