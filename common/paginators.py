"""Admin paginators for append-only history tables."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """History grows without bound: count at most 10,001 rows (a LIMIT in a subquery)
    instead of the whole table."""

    CAP = 10_001

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()
