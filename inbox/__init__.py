"""school-inbox: one support inbox for a small school's mail and messenger channels."""

# The one place the version is written: pyproject.toml reads it from here, and
# `inbox --version` prints it without the package-metadata scan (~20 ms at every start).
__version__ = "0.1.0"
