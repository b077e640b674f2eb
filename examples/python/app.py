"""A provider's Python app behind glp-sidecar (GLP_APP_URL points here), standard library only.

The sidecar keeps the affiliate's click id in the _glp_cid cookie; on sign-up this code posts the
conversion to the sidecar as a server call.
    SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=... PORT=3000 python3 app.py
"""
import json
import os
import sys
import urllib.error
import urllib.request
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

SIDECAR_URL = os.environ.get("SIDECAR_URL", "http://127.0.0.1:8787")
INGEST_TOKEN = os.environ.get("GLP_INGEST_TOKEN", "")  # the sidecar's own GLP_INGEST_TOKEN


def track_conversion(click_id, email, ip, order_id):
    """Posts one conversion to the sidecar; raises on anything but 202 (queued) or 200 (duplicate).

    A 4xx says which field is wrong and will fail again if retried as it is; a 5xx stored
    nothing, so retry later.
    """
    body = {"glpClickId": click_id, "email": email, "ip": ip,
            "conversion_id": str(order_id)}  # a string: a number is refused with 400
    req = urllib.request.Request(
        SIDECAR_URL + "/glp-s2s-conversion", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + INGEST_TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            status, answer = resp.status, resp.read()
    except urllib.error.HTTPError as err:  # 4xx and 5xx land here
        status, answer = err.code, err.read()
    if status not in (200, 202):
        raise RuntimeError(f"sidecar answered {status}: {answer.decode(errors='replace')}")
    return json.loads(answer)  # {"status": "queued"|"duplicate", "event_id": "..."}


class App(BaseHTTPRequestHandler):
    def visitor_ip(self):
        """The visitor's address: the sidecar in front (on this host) appends it to X-Forwarded-For."""
        peer = self.client_address[0]
        forwarded = self.headers.get("X-Forwarded-For", "")
        if forwarded and peer in ("127.0.0.1", "::1"):
            return forwarded.split(",")[-1].strip()
        return peer

    def reply(self, text, content_type="text/plain"):
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type + "; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply('<h1>Welcome</h1>\n<form method="post" action="/signup"><input name="email">'
                   '<input name="order"><button>Sign up</button></form>', "text/html")

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        order_id, email = int(form["order"][0]), form["email"][0]  # your sign-up, stored first
        cookie = SimpleCookie(self.headers.get("Cookie", "")).get("_glp_cid")  # set by the sidecar
        try:
            answer = track_conversion(cookie.value if cookie else None, email, self.visitor_ip(), order_id)
            self.reply(f"signed up; conversion {answer['status']} (event {answer['event_id']})")
        except (RuntimeError, OSError) as err:
            print(f"conversion not tracked: {err}", file=sys.stderr, flush=True)  # alert on this line
            self.reply(f"signed up; conversion not tracked: {err}")


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "3000"))
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()
