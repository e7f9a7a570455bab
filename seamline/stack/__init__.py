"""The local real stack (Kafka, Apicurio Registry, PostgreSQL, MariaDB, Prometheus) without Docker."""

from seamline.stack.errors import StackError
from seamline.stack.lifecycle import StackInfo, down, status, up
from seamline.stack.mariadb import url as mariadb_url
from seamline.stack.postgres import dsn as postgres_dsn

__all__ = ["StackError", "StackInfo", "down", "mariadb_url", "postgres_dsn", "status", "up"]
