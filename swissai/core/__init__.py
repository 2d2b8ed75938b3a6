"""Pure logic: no I/O, no environment variables, no heavy imports."""
