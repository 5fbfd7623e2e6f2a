import factory
from django.utils import timezone

from registry import models


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Source
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"source{n}")
    dsn = "postgresql://warehouse:s3cr3t-pw@127.0.0.1:5432/warehouse"


class RegistryObjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.RegistryObject

    source = factory.SubFactory(SourceFactory)
    schema_name = "mart"
    object_name = factory.Sequence(lambda n: f"object_{n}")
    object_type = "table"
    exists_in_db = True
    discovered_at = factory.LazyFunction(timezone.now)
    last_verified_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class ColumnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Column

    object = factory.SubFactory(RegistryObjectFactory)
    name = factory.Sequence(lambda n: f"col_{n}")
    position = factory.Sequence(lambda n: n + 1)
    data_type = "integer"


class DependencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Dependency

    upstream = factory.SubFactory(RegistryObjectFactory)
    downstream = factory.SubFactory(RegistryObjectFactory, source=factory.SelfAttribute("..upstream.source"))
    source = factory.SelfAttribute("upstream.source")


class CodeUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CodeUsage

    object = factory.SubFactory(RegistryObjectFactory)
    source = factory.SelfAttribute("object.source")
    raw_name = factory.LazyAttribute(lambda o: o.object.qualified_name if o.object else "unknown")
    schema_name = factory.LazyAttribute(lambda o: o.object.schema_name if o.object else "")
    object_name = factory.LazyAttribute(lambda o: o.object.object_name if o.object else "")
    code_path = "app"
    file = "api/orders.py"
    line = 42
    kind = "read"
    context = "script"


class ResolverRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ResolverRule

    kind = "alias"
    priority = 100
