"""The business rules: plain data and pure functions, no I/O and nothing from any cloud."""
