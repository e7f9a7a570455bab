"""The local real stack (Kafka, Apicurio Registry, PostgreSQL) without Docker."""

from seamline.stack.errors import StackError
from seamline.stack.lifecycle import StackInfo, down, status, up
from seamline.stack.postgres import dsn as postgres_dsn

__all__ = ["StackError", "StackInfo", "down", "postgres_dsn", "status", "up"]
