"""CherryPy storefront, started as `python storefront/server.py` from the repository root.

Python puts this file's directory first on sys.path, so `import catalog` below is the
sibling `storefront/catalog.py`, not the top-level `catalog/` package of the same name.
"""

import cherrypy

import catalog
from catalog import stock_levels as levels


class Storefront:
    @cherrypy.expose
    def index(self):
        return self._render(catalog.best_sellers(10))

    @cherrypy.expose
    @cherrypy.tools.json_out()
    def stock(self, product_id):
        return levels(int(product_id))

    @cherrypy.expose
    def sessions(self):
        return self._render(catalog.recent_sessions())

    def _render(self, rows):
        return "<ul>" + "".join(f"<li>{row}</li>" for row in rows) + "</ul>"


if __name__ == "__main__":
    cherrypy.quickstart(Storefront(), "/shop")
