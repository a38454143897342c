"""The baseline: a bare functions-framework HTTP function that answers and does nothing else."""

import functions_framework


@functions_framework.http
def hello(request):  # type: ignore[no-untyped-def]
    return "OK"
