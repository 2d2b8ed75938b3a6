"""Typed, frozen pydantic models: the data that flows between swissai's layers."""
