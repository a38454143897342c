"""The use cases the functions call: onboarding, authentication, integrations, submitting,
executing and reading runs. They speak in domain types and ``shared.errors``; HTTP stays in the
functions."""
