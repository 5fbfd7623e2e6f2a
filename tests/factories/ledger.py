import uuid

import factory
from django.utils import timezone

from ledger import models


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Client
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"client-{n}")


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Pipeline
        django_get_or_create = ("namespace", "name")

    namespace = ""
    name = factory.Sequence(lambda n: f"pipeline_{n}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Run

    pipeline = factory.SubFactory(PipelineFactory)
    external_run_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    status = models.Run.SUCCESS
    started_at = factory.LazyFunction(timezone.now)
    ended_at = factory.LazyAttribute(lambda o: o.started_at if o.status in models.Run.TERMINAL else None)
    last_event_at = factory.LazyAttribute(lambda o: o.ended_at or o.started_at)


class RunAssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.RunAsset

    run = factory.SubFactory(RunFactory)
    asset_key = "raw.orders"
    normalized_key = factory.LazyAttribute(lambda o: o.asset_key.lower())
    status = "success"
    ended_at = factory.LazyAttribute(lambda o: o.run.ended_at)


class WatermarkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Watermark

    asset_key = "raw.orders"
    normalized_key = factory.LazyAttribute(lambda o: o.asset_key.lower())
    watermark_ts = factory.LazyFunction(timezone.now)


class CheckResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.CheckResult

    asset_key = "raw.orders"
    normalized_key = factory.LazyAttribute(lambda o: o.asset_key.lower())
    check_name = "not_null(order_id)"
    status = "pass"
