from . import objects, resolvers  # noqa: F401
