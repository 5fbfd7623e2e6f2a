"""`field__any=values`: `field = ANY(%s)`, one array parameter whatever the number of
values.

Django's `__in` sends one parameter per value. With server-side binding (our default
connection) PostgreSQL refuses a statement of more than 65,535 parameters, so an `IN`
over every ledger key or every vanished object fails once the data grows past that; and
its plan differs with every list length. An array is one parameter and one plan.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject, Lookup


@ForeignObject.register_lookup  # foreign keys keep their own lookup table
@Field.register_lookup
class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        field = self.lhs.output_field
        return [field.get_prep_value(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet  # as `__in=[]`: matches nothing, and costs no query
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]
        # Typed as the column, so that an index on it is used (an untyped int list
        # would be numeric[]).
        return f"{lhs} = ANY(%s::{field.cast_db_type(connection)}[])", [*lhs_params, values]
