"""mineq engine: case I/O and validation, solve loop, verification,
results and the command line."""

__version__ = "0.1.0"
