"""Processors, one module each, registered by dotted id in ``shared.pipelines.registry``."""
