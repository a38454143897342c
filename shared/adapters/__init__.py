"""Adapters: one folder per backend, each implementing every port of ``shared.ports``."""
