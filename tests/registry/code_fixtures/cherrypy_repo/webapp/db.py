import psycopg


def connect():
    return psycopg.connect("postgresql:///shop")
