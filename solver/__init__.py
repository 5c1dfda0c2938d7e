"""mineq engine: case I/O and validation, solve loop, verification,
results and the command line."""

from mineq import __version__  # noqa: F401 (one version for the package)
