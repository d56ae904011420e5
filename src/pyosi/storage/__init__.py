"""The database: one schema for the CLI and the service, SQLite by default, PostgreSQL by URL.

from pyosi.storage import open_database
db = open_database()           # $PYOSI_DATABASE_URL, else pyosi.db in the data directory
db.upgrade()                   # Alembic migrations to head (`pyosi db upgrade`)
"""

from pyosi.storage.database import (
    DATABASE_URL_ENV,
    Database,
    DatabaseNotMigratedError,
    database_url,
    open_database,
    read_only,
    reading,
    safe_url,
    utc,
    with_driver,
)

__all__ = [
    "DATABASE_URL_ENV",
    "Database",
    "DatabaseNotMigratedError",
    "database_url",
    "open_database",
    "read_only",
    "reading",
    "safe_url",
    "utc",
    "with_driver",
]
