import factory

from checks.alerts import models


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Channel

    name = factory.Sequence(lambda n: f"channel-{n}")
    kind = "webhook"
    target = "http://127.0.0.1:9/hook"


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.AlertRule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"rule {n}")
    kind = "run_failed"
    params = factory.LazyAttribute(lambda o: {})

    @factory.post_generation
    def channels(self, create, extracted, **kwargs):
        if create and extracted:
            self.channels.set(extracted)
