"""swissai: plan, render, check, deploy and verify on-premises vLLM serving."""

__version__ = "0.1.0"
