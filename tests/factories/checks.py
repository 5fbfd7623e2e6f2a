import factory

from checks.datachecks.models import DataCheck
from tests.factories.registry import RegistryObjectFactory


class DataCheckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataCheck

    object = factory.SubFactory(RegistryObjectFactory)
    name = factory.Sequence(lambda n: f"check_{n}")
    kind = "row_count"
    params = factory.LazyFunction(lambda: {"min": 1})
