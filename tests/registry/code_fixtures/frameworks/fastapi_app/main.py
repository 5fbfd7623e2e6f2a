from fastapi import APIRouter, FastAPI

app = FastAPI()
router = APIRouter(prefix="/api/orders")


@router.get("/{order_id}")
async def get_order(order_id: int, db):
    return await db.fetchrow("select * from canon.orders where order_id = $1", order_id)


@router.post("")
async def create_order(payload, db):
    await db.execute("insert into raw.orders (payload) values ($1)", payload)


@app.api_route("/ping", methods=["HEAD", "GET"])
def ping(db):
    return db.execute("select 1 from public.app_users limit 1")


def add_routes(app):
    app.add_api_route("/legacy", legacy_totals, methods=["GET"])


def legacy_totals(db):
    return db.execute("select * from mart.v_revenue_by_day")
