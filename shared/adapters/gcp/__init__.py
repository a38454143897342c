"""The production adapters on Google Cloud: BigQuery, Firestore, Pub/Sub, Cloud KMS.

Same shape as ``shared.adapters.local``, one module per port. Nothing here imports a Google library
at import time (a function's cold start pays only for the clients it uses); docs/gcp.md has the
settings, the IAM roles and the emulator tests.
"""
