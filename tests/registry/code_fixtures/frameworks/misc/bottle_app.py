from bottle import get, route


@route("/calendar")
def calendar(db):
    return db.execute("select * from canon.calendar")


@get("/payments")
def payments(db):
    return db.execute("select * from canon.payments")
