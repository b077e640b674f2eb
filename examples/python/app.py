"""A provider's Python app behind glp-sidecar (GLP_APP_URL points here), standard library only.

The sidecar keeps the affiliate's click id in the _glp_cid cookie; on sign-up this code posts the
conversion to the sidecar as a server call.
    SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=... PORT=3000 python3 app.py
"""
import http.client
import json
import os
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

SIDECAR_URL = os.environ.get("SIDECAR_URL", "http://127.0.0.1:8787")
INGEST_TOKEN = os.environ.get("GLP_INGEST_TOKEN", "")  # the sidecar's own GLP_INGEST_TOKEN
# How long to keep retrying a conversion the sidecar did not acknowledge (it restarts, its disk is
# full): 30 s at least. Then it is appended to NOT_TRACKED_FILE, one JSON line each, to send again
# later (docs/integration.md, "Replaying conversions not tracked").
RETRY_SECONDS = int(os.environ.get("TRACK_RETRY_SECONDS", "60"))
NOT_TRACKED_FILE = os.environ.get("NOT_TRACKED_FILE", "glp-not-tracked.jsonl")
_not_tracked_lock = threading.Lock()
# How long a sign-up's answer waits for the sidecar's: past it (the sidecar is restarting), the
# visitor is answered and the conversion goes on being retried in the background. Never hold the
# visitor for the whole retry: behind the sidecar, the sign-up's own request is one that a stopping
# sidecar waits for before the next one can start.
SIGNUP_WAIT_SECONDS = 3


class NotTracked(RuntimeError):
    """The sidecar did not acknowledge the conversion: a 4xx, or no answer for RETRY_SECONDS."""


def retryable(status):
    """A connection error, a timeout, 408, 429 and 5xx stored nothing for a reason of the moment."""
    return status in (408, 429) or status >= 500


def track_conversion(click_id, email, ip, order_id):
    """Posts one conversion to the sidecar until it answers 202 (queued) or 200 (duplicate).

    The order id is the Idempotency-Key, so that a retry never counts it twice. A 4xx says which
    field is wrong and would fail again as it is: raised at once. Anything else is retried with
    backoff for RETRY_SECONDS; then the conversion is kept in NOT_TRACKED_FILE and raised.
    """
    body = {"glpClickId": click_id, "email": email, "ip": ip,
            "conversion_id": order_id}  # a string: a number is refused with 400
    deadline = time.monotonic() + RETRY_SECONDS
    backoff = 0.2
    while True:
        wait = 0
        req = urllib.request.Request(
            SIDECAR_URL + "/glp-s2s-conversion", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + INGEST_TOKEN,
                     "Idempotency-Key": order_id})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())  # {"status": "queued"|"duplicate", "event_id": "..."}
        except urllib.error.HTTPError as err:  # 4xx and 5xx land here
            failure = f"sidecar answered {err.code}: {err.read().decode(errors='replace')}"
            if not retryable(err.code):
                raise NotTracked(failure) from None
            wait = int(err.headers.get("Retry-After") or 0)
        except (OSError, ValueError, http.client.HTTPException) as err:  # refused, reset, timed out; cut short
            failure = f"sidecar unreachable: {err}"
        pause = min(max(backoff * random.uniform(0.75, 1.25), wait), 5)
        backoff = min(2 * backoff, 5)
        if time.monotonic() + pause > deadline:
            line = {"at": datetime.now(timezone.utc).isoformat(), "idempotency_key": order_id,
                    "body": body, "error": failure}
            with _not_tracked_lock, open(os.open(NOT_TRACKED_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as f:
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
            raise NotTracked(f"{failure} (kept in {NOT_TRACKED_FILE} for replay)")
        time.sleep(pause)


class App(BaseHTTPRequestHandler):
    def visitor_ip(self):
        """The visitor's address: the sidecar in front (on this host) appends it to X-Forwarded-For."""
        peer = self.client_address[0]
        forwarded = self.headers.get("X-Forwarded-For", "")
        if forwarded and peer in ("127.0.0.1", "::1"):
            return forwarded.split(",")[-1].strip()
        return peer

    def reply(self, text, content_type="text/plain", status=200):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type + "; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply('<h1>Welcome</h1>\n<form method="post" action="/signup"><input name="email">'
                   '<input name="order"><button>Sign up</button></form>', "text/html")

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        # your sign-up, stored first; its id is the conversion's. A missing id is refused, never
        # replaced by a stand-in, which would make every later sign-up a duplicate.
        order_id, email = form.get("order", [""])[0].strip(), form.get("email", [""])[0]
        if not re.fullmatch(r"[\x21-\x7e]{1,256}", order_id):  # it is also the Idempotency-Key header
            self.reply("order: required, 1 to 256 printable characters without spaces", status=400)
            return
        cookie = SimpleCookie(self.headers.get("Cookie", "")).get("_glp_cid")  # set by the sidecar
        outcome = {}

        def track():
            try:
                outcome["answer"] = track_conversion(cookie.value if cookie else None, email, self.visitor_ip(), order_id)
            except NotTracked as err:
                outcome["error"] = err
                print(f"conversion not tracked: {err}", file=sys.stderr, flush=True)  # alert on this line

        worker = threading.Thread(target=track, daemon=True)
        worker.start()
        worker.join(SIGNUP_WAIT_SECONDS)
        if "answer" in outcome:
            answer = outcome["answer"]
            self.reply(f"signed up; conversion {answer['status']} (event {answer['event_id']})")
        elif "error" in outcome:
            self.reply(f"signed up; conversion not tracked: {outcome['error']}")
        else:
            self.reply("signed up; conversion pending: the sidecar has not answered yet, retrying in the background")


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "3000"))
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), App).serve_forever()
