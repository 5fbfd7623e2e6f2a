"""Revenue figures: the mart views and materialized views."""

from services import db


def daily_revenue(start, end):
    return db.fetch_all(
        """
        SELECT sales_day, revenue, orders
        FROM mart.daily_sales
        WHERE sales_day BETWEEN %s AND %s
        ORDER BY sales_day
        """,
        (start, end),
    )


def top_customers(limit):
    # fn_top_customers() is a set-returning function, not a table.
    return db.fetch_all("select * from mart.fn_top_customers() limit %s", (limit,))


def churn_forecast():
    # The forecast view was planned by the analytics team but never shipped.
    return db.fetch_all("SELECT customer_id, churn_probability FROM mart.v_churn_forecast")


def revenue_with_fx(currency):
    sql = (
        "with rates as ("
        "  select rate_date, rate_to_eur from canon.fx_rates_daily where currency = %s"
        ") "
        "select r.sales_day, r.revenue * rates.rate_to_eur as revenue "
        "from mart.v_revenue_by_day r "
        "join rates on rates.rate_date = r.sales_day"
    )
    return db.fetch_all(sql, (currency,))
