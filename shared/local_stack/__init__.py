"""The whole system on one machine: ``serve`` (every route plus queue delivery), ``demo``, the CLI,
and a synthetic billing-export generator."""
