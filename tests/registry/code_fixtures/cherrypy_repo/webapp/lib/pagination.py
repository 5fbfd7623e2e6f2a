from .sqlutil import fetch_page

PAGE = 50


def page_of_orders(page):
    return fetch_page("SELECT order_id, order_date FROM canon.orders ORDER BY order_id", page, PAGE)
