"""Pure formatters: rich tables, JSON, SARIF, JUnit, HTML."""
