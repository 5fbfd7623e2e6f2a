from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.routing import Route


async def homepage(request):
    return request.app.state.db.execute("select * from mart.top_products")


class Sessions(HTTPEndpoint):
    async def get(self, request):
        return request.app.state.db.execute("select * from mart.session_funnel")


app = Starlette(routes=[Route("/", endpoint=homepage), Route("/sessions", Sessions)])
