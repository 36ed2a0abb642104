"""Build the optional native reader; everything else is in pyproject.toml.

``pycadvisor.container._cgread`` is optional: without a C compiler or Python headers the build goes on
without it, and the collector reads through its pure-Python twin (``pycadvisor.container.fdread``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pycadvisor.container._cgread",
            sources=["src/pycadvisor/container/_cgread.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
