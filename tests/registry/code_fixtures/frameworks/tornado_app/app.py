import tornado.web


class CustomersHandler(tornado.web.RequestHandler):
    def get(self, customer_id):
        self.write(self.application.db.query("select * from canon.customers where id = %s", customer_id))

    def helper_not_a_verb(self):
        return self.application.db.query("select * from raw.customers")


def make_app():
    return tornado.web.Application([(r"/customers/([0-9]+)", CustomersHandler)])
