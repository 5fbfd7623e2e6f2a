from aiohttp import web

routes = web.RouteTableDef()


@routes.get("/rates")
async def rates(request):
    return await request.app["db"].fetch("select * from canon.fx_rates_daily")


async def events(request):
    return await request.app["db"].fetch("select * from raw.events")


async def sessions(request):
    return await request.app["db"].fetch("select * from raw.web_sessions")


app = web.Application()
app.add_routes(routes)
app.router.add_get("/events", events)
app.add_routes([web.post("/sessions", sessions)])
