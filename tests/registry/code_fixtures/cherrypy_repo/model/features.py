def record_payment(conn, order_id):
    conn.execute("INSERT INTO mart.payment_features (order_id) VALUES (%s)", (order_id,))


def cleanup(conn):
    conn.execute("TRUNCATE mart.payment_features")
