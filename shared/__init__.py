"""CloudAct Pipelines: the library every Cloud Function imports.

Layout: ``domain`` (orgs, keys, integrations, runs: no I/O), ``pipelines`` (YAML config, parameters,
processors), ``ports`` (the interfaces), ``adapters`` (one folder per backend), ``services`` (the use
cases the functions call), ``local_stack`` (serve, demo and the CLI for one machine).
"""
