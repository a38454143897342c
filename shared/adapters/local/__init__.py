"""The embedded default: DuckDB warehouse, SQLite store and queue, a local master-key file.

Everything lives under one data directory, so a new user can run the whole system on one machine.
"""
