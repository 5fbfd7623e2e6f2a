from db import connect


def summary():
    with connect() as conn:
        return conn.execute("SELECT sales_day, revenue_eur FROM mart.daily_sales ORDER BY sales_day DESC").fetchall()
