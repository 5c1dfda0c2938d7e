"""Build configuration beyond pyproject.toml: the optional compiled
active-set step (models/_polish.c).  ``optional=True``: where no C compiler
is at hand the install still succeeds and mineq uses the Python polish,
which gives the same results more slowly."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("mineq.models._polish", sources=["models/_polish.c"], optional=True)])
