"""Registry API and admin benchmark: do the list, the detail, the admin changelist and a
bulk override stay flat as the registry grows?

Builds N synthetic registry objects (each with 8 columns and one upstream edge) under a
throwaway source inside one transaction that is rolled back at the end, so the
database is left as it was. Times (median of --repeat runs) with Django's test client:

  list      GET /api/v1/ops/source-registry?limit=50
  filtered  GET …?criticality=critical&should_monitor=true&search=obj_1
  detail    GET /api/v1/ops/source-registry/{id}
  admin     GET /admin/registry/registryobject/ (100 rows, no full COUNT(*))
  override  apply_overrides() on every object at once (3 queries)

    .venv/bin/python bench/registry_api.py                 # N = 1,000 and 10,000
    .venv/bin/python bench/registry_api.py --sizes 50000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from registry.models import Column, Dependency, RegistryObject, Source  # noqa: E402
from registry.overrides import apply_overrides  # noqa: E402


class Rollback(Exception):
    """Raised to leave the benchmark's transaction without committing anything."""


def build(n: int) -> tuple[Source, list[RegistryObject]]:
    now = timezone.now()
    source = Source.objects.create(
        name=f"bench-registryapi-{os.getpid()}", dsn="postgresql://bench@localhost/x"
    )
    objects = RegistryObject.objects.bulk_create(
        RegistryObject(
            source=source,
            schema_name=("raw", "canon", "mart")[i % 3],
            object_name=f"obj_{i}",
            object_type="view" if i % 3 == 2 else "table",
            criticality=("critical", "important", "normal", "normal")[i % 4],
            should_monitor=i % 4 < 2,
            db_comment=f"synthetic object {i}",
            discovered_at=now,
            last_verified_at=now,
        )
        for i in range(n)
    )
    Column.objects.bulk_create(
        Column(object=obj, name=f"c{k}", position=k + 1, data_type="integer")
        for obj in objects
        for k in range(8)
    )
    Dependency.objects.bulk_create(
        Dependency(source=source, upstream=objects[i - 1], downstream=objects[i]) for i in range(1, n)
    )
    return source, objects


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(n: int, repeat: int) -> dict[str, float]:
    results: dict[str, float] = {}
    try:
        with transaction.atomic():
            _, objects = build(n)
            user = get_user_model().objects.create_superuser(f"bench-{os.getpid()}", "b@example.com", "pw")
            client = Client()
            client.force_login(user)
            middle = objects[n // 2]

            def get(url: str, **params) -> None:
                response = client.get(url, params)
                assert response.status_code == 200, response.status_code

            api = "/api/v1/ops/source-registry"
            results["list"] = median_ms(lambda: get(api, limit=50), repeat)
            results["filtered"] = median_ms(
                lambda: get(api, criticality="critical", should_monitor="true", search="obj_1"), repeat
            )
            results["detail"] = median_ms(lambda: get(f"{api}/{middle.pk}"), repeat)
            results["admin"] = median_ms(lambda: get("/admin/registry/registryobject/"), repeat)
            flip = iter([True, None] * repeat)
            results["override"] = median_ms(
                lambda: apply_overrides(
                    RegistryObject.objects.all(), {"is_expected": next(flip)}, actor_name="bench"
                ),
                repeat,
            )
            raise Rollback
    except Rollback:
        pass
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS.append("testserver")
    print(
        f"{'N':>8} {'list':>9} {'filtered':>9} {'detail':>9} {'admin':>9} {'override all':>13}   (ms, median)"
    )
    for n in args.sizes:
        r = run(n, args.repeat)
        print(
            f"{n:>8} {r['list']:>9.1f} {r['filtered']:>9.1f} {r['detail']:>9.1f} {r['admin']:>9.1f} {r['override']:>13.1f}"
        )


if __name__ == "__main__":
    main()
