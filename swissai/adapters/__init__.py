"""Adapters: the only code that touches the outside world (files, NVML, Kubernetes, vLLM)."""
