from flask import Blueprint, Flask
from flask.views import MethodView

app = Flask(__name__)
bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.route("/sales", methods=["POST", "GET"])
def sales(db):
    return db.execute("select * from mart.daily_sales")


@app.get("/flags")
def flags(db):
    return db.execute("select * from public.feature_flags")


def export(db):
    return db.execute("select * from mart.customer_ltv")


class Users(MethodView):
    def delete(self, db):
        return db.execute("delete from public.app_users where disabled")


app.add_url_rule("/export", view_func=export)
app.add_url_rule("/users", view_func=Users.as_view("users"))
