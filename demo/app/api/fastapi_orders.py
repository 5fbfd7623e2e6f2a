"""Storefront API: orders and revenue for the dashboards."""

from datetime import date

from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel

from services import orders, revenue
from services.db import fetch_all

app = FastAPI(title="shopdata")
router = APIRouter(prefix="/orders")


class Payment(BaseModel):
    amount: float
    method: str


@router.get("/{order_id}")
def read_order(order_id: int):
    order = orders.get_order(order_id)
    if order is None:
        raise HTTPException(status_code=404)
    return order


@router.get("/")
def recent_orders(days: int = 7):
    return orders.list_recent_orders(days)


@router.post("/{order_id}/payments")
def add_payment(order_id: int, payment: Payment):
    return {"payment_id": orders.record_payment(order_id, payment.amount, payment.method)}


@app.get("/revenue/daily")
def revenue_daily(start: date, end: date):
    return revenue.daily_revenue(start, end)


@app.get("/revenue/top-customers")
async def top_customers(limit: int = 10):
    return revenue.top_customers(limit)


@app.get("/revenue/churn")
def churn():
    return revenue.churn_forecast()


@app.get("/customers/active")
def active_customers():
    return fetch_all(
        """
        select customer_id, last_session_at
          from mart.v_active_customers
         order by last_session_at desc
        """
    )


@app.get("/health")
def health():
    """Liveness probe: select 1 from public.app_users would be too slow here."""
    return {"status": "ok"}


app.include_router(router)
