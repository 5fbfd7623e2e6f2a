"""Finance reports, served by the Flask back office under /reports."""

from flask import Blueprint, abort, jsonify, request

from services.db import fetch_all

reports = Blueprint("reports", __name__, url_prefix="/reports")

# Reports a finance user may open by name; each is a view in the mart schema.
ALLOWED_REPORTS = {"top_products", "v_revenue_by_day", "product_performance"}


@reports.route("/products")
def product_report():
    rows = fetch_all(
        "SELECT p.product_id, p.name, perf.units, perf.revenue_eur"
        "  FROM mart.top_products p"
        "  JOIN mart.product_performance perf USING (product_id)"
    )
    return jsonify(rows)


@reports.route("/by-name/<name>")
def named_report(name):
    if name not in ALLOWED_REPORTS:
        abort(404)
    # The table name comes from the URL: the scanner cannot know which view this reads.
    return jsonify(fetch_all(f"select * from mart.{name} limit 500"))


@reports.route("/sessions", methods=["GET", "POST"])
def session_funnel():
    day = request.args.get("day")
    return jsonify(_funnel_for(day))


def _funnel_for(day):
    return fetch_all(
        'SELECT country, active_customers, converted_customers FROM mart.session_funnel WHERE country = %s',
        (day,),
    )


@reports.route("/daily-stats")
def daily_stats():
    return jsonify(fetch_all('select stat_day, visits from public."Daily.Stats" order by stat_day'))
