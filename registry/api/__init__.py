from . import objects  # noqa: F401
