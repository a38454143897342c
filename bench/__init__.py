"""Benchmarks of CloudAct Pipelines on the embedded stack: ``python -m bench`` (see ``bench/run.py``)."""
