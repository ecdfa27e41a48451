"""Adapters that let other systems drive squall in their own conventions.

Each adapter lives in its own subpackage and imports its system only there:
``squall.integrations.airflow`` needs ``pip install 'squall[airflow]'``.
"""
