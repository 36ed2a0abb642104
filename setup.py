"""Build the optional native reader; everything else is in pyproject.toml.

``pycadvisor.host.cgroups._cgread`` is optional: without a C compiler or Python headers the build goes on
without it, and the collector reads through its pure-Python twin (``pycadvisor.host.cgroups.fdread``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pycadvisor.host.cgroups._cgread",
            sources=["src/pycadvisor/host/cgroups/_cgread.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
