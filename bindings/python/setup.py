"""The wheel carries libefm (a native library), so it must be tagged for a platform, not
py3-none-any. Everything else is configured in pyproject.toml."""

from setuptools import setup
from setuptools.dist import Distribution


class NativeLibraryDistribution(Distribution):
    def has_ext_modules(self) -> bool:
        return True


setup(distclass=NativeLibraryDistribution)
