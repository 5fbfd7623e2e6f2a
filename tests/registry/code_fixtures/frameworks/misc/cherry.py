import cherrypy


class Root:
    @cherrypy.expose
    def index(self):
        return cherrypy.request.db.execute("select * from raw.fx_rates")
