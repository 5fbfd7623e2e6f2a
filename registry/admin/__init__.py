from . import objects, rules  # noqa: F401
