"""The pipeline engine: YAML config, typed parameters, processors and the step runner."""
