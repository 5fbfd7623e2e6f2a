"""The shop's CherryPy application: `python webapp/server.py` (sys.path[0] = webapp/)."""

import functools

import cherrypy
import model
import reports.daily
from lib import pagination
from model import customer_orders as orders_of
from shopcore import pricing


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        cherrypy.log(fn.__name__)
        return fn(*args, **kwargs)

    return wrapper


class Orders:
    @cherrypy.expose
    def index(self, page=1):
        return self.render(pagination.page_of_orders(int(page)))

    @cherrypy.expose
    @logged
    def detail(self, order_id):
        return self.render(model.order_detail(int(order_id)))

    @cherrypy.expose
    def by_customer(self, customer_id):
        return self.render(orders_of(int(customer_id)))

    def render(self, rows):
        return "\n".join(map(str, rows))


class Root:
    orders = Orders()

    @cherrypy.expose
    def index(self):
        repo = model.ProductRepository()
        return str(repo.featured())

    @cherrypy.expose
    def prices(self):
        return str(pricing.current_prices())

    @cherrypy.expose
    def daily(self):
        return str(reports.daily.summary())

    @cherrypy.expose
    def pay(self, order_id, amount):
        model.record_payment(int(order_id), float(amount))
        return "ok"


if __name__ == "__main__":
    cherrypy.quickstart(Root(), "/")
