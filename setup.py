"""Build the optional native parts; everything else is in pyproject.toml.

Both are optional: without a C compiler or Python headers the build goes on without them.
``pycadvisor.host.cgroups._cgread``: the collector then reads through its pure-Python twin
(``pycadvisor.host.cgroups.fdread``); ``pycadvisor.metrics._expfmt``: ``/metrics`` is then written by
its pure-Python twin (``pycadvisor.metrics.expfmt.PyWriter``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pycadvisor.host.cgroups._cgread",
            sources=["src/pycadvisor/host/cgroups/_cgread.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=True,
        ),
        Extension(
            "pycadvisor.metrics._expfmt",
            sources=[
                "src/pycadvisor/metrics/_expfmt.c",
                "src/pycadvisor/metrics/_expfmt_float.c",
                "src/pycadvisor/metrics/_expfmt_read.c",
            ],
            depends=["src/pycadvisor/metrics/_expfmt_float.h", "src/pycadvisor/metrics/_expfmt_read.h"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=True,
        ),
    ]
)
