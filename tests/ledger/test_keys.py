import pytest

from ledger.keys import normalize_asset_key, normalize_namespace


@pytest.mark.parametrize(
    ("key", "namespace", "expected"),
    [
        ("raw.orders", None, "raw.orders"),
        ("RAW.Orders", None, "raw.orders"),
        ('"raw"."orders"', None, "raw.orders"),
        ('"Sales"."Q1.total"', None, '"Sales"."Q1.total"'),
        ("shop.raw.orders", None, "shop/raw.orders"),
        ("shop.raw.orders", "postgres://DB.example:5432", "postgresql://db.example:5432/shop/raw.orders"),
        ("shop.raw.orders", "postgresql://db.example", "postgresql://db.example:5432/shop/raw.orders"),
        ("orders", None, "orders"),
        ("data/orders.csv", "file", "file/data/orders.csv"),
        ("bucket/Key.parquet", "s3://Bucket", "s3://bucket/bucket/Key.parquet"),
    ],
)
def test_normalize_asset_key_folds_spellings(key, namespace, expected):
    assert normalize_asset_key(key, namespace) == expected


def test_postgres_and_postgresql_namespaces_fold_to_one_form():
    assert normalize_namespace("postgres://h:5433") == normalize_namespace("postgresql://H:5433/")
    assert normalize_namespace("postgres://user:secret@h:5433") == "postgresql://h:5433"


def test_schema_table_is_the_last_segment_of_a_three_part_name():
    with_db = normalize_asset_key("warehouse.mart.daily_sales", "postgres://h:5432")
    without_db = normalize_asset_key("mart.daily_sales", "postgres://h:5432")
    assert with_db.rsplit("/", 1)[1] == without_db.rsplit("/", 1)[1] == "mart.daily_sales"
