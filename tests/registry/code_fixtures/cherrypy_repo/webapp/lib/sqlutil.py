from db import connect


def fetch_page(sql, page, size):
    with connect() as conn:
        total = conn.execute("SELECT count(*) FROM canon.orders").fetchone()[0]
        rows = conn.execute(f"{sql} LIMIT {size} OFFSET {(page - 1) * size}").fetchall()
    return total, rows
