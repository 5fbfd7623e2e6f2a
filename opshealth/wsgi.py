import io
import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opshealth.settings")


class ChunkedBody:
    """Give Django the body of a `Transfer-Encoding: chunked` request.

    gunicorn de-chunks such a body and marks it `wsgi.input_terminated`, but Django
    reads a body without Content-Length as empty. It is read here, at most the payload
    limit plus one byte (so the parsers still answer 413 above the limit), and its
    length is set.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
            body = environ["wsgi.input"].read(settings.OPSHEALTH_MAX_PAYLOAD_BYTES + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


application = ChunkedBody(get_wsgi_application())
