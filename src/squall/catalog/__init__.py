"""The workspace catalog (SQLite): stages, models, versions, jobs, shards."""

from squall.catalog.db import Catalog

__all__ = ["Catalog"]
