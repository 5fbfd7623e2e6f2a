#!/usr/bin/env python
"""Pull daily FX rates from the remote rates table into raw and canon."""

import psycopg

from services.db import WAREHOUSE_DSN

SYNC_RAW = """
    insert into raw.fx_rates (currency, rate_date, rate_to_eur)
    select currency, rate_date, rate_to_eur from raw.remote_rates
    on conflict (currency, rate_date) do nothing
"""

# The canon table is rebuilt from raw: it keeps one rate per currency and day.
SYNC_CANON = (
    "insert into canon.fx_rates_daily (currency, rate_date, rate_to_eur) "
    "select distinct on (currency, rate_date) currency, rate_date, rate_to_eur "
    "from raw.fx_rates "
    "order by currency, rate_date, rate_to_eur desc "
    "on conflict (currency, rate_date) do update set rate_to_eur = excluded.rate_to_eur"
)


def sync(conn):
    conn.execute(SYNC_RAW)
    conn.execute(SYNC_CANON)
    count = conn.execute("select count(*) from canon.fx_rates_daily where rate_date = current_date").fetchone()
    return count[0]


if __name__ == "__main__":
    with psycopg.connect(WAREHOUSE_DSN) as conn:
        print("rates today:", sync(conn))
