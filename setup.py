"""The optional C part of the SFU hot path (server/media/_rtpsend.c); everything else is in pyproject.toml.

`optional=True`: without a C compiler the install still succeeds and the SFU uses its Python path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "server.media._rtpsend",
            ["server/media/_rtpsend.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
