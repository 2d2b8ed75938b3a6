"""Use cases: plan, render, check, deploy/status/rollback/destroy, serve, smoke, bench, model.

Services orchestrate core, render, report and adapters. They print nothing: they return typed
results, raise `swissai.errors.SwissaiError` subclasses (each with its exit code), and report
progress and messages through an `on_event` callback (`swissai.services.events`). The CLI
(`swissai.cli`) and the public Python API (`swissai.api`) are thin layers over them.
Services never import `swissai.cli`, typer or rich (tests/unit/test_layering.py).
"""
