"""The warehouse: DuckDB tables, ``session.sql`` and the lazy squall DataFrame."""

from squall.warehouse.dataframe import BatchStream, DataFrame
from squall.warehouse.warehouse import Warehouse

__all__ = ["BatchStream", "DataFrame", "Warehouse"]
