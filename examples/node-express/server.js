// A provider's Express app behind glp-sidecar (GLP_APP_URL points here). The sidecar keeps the
// affiliate's click id in the _glp_cid cookie; on sign-up this server posts the conversion to the
// sidecar as a server call.   npm ci && SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=… node server.js
const express = require('express'); // npm install express cookie-parser
const cookieParser = require('cookie-parser');
const fs = require('node:fs/promises');

const SIDECAR_URL = process.env.SIDECAR_URL || 'http://127.0.0.1:8787';
const INGEST_TOKEN = process.env.GLP_INGEST_TOKEN; // the sidecar's own GLP_INGEST_TOKEN
// How long to keep retrying a conversion the sidecar did not acknowledge (it restarts, its disk is
// full): 30 s at least. Then it is appended to NOT_TRACKED_FILE, one JSON line each, to send again
// later (docs/integration.md, "Replaying conversions not tracked").
const RETRY_MS = 1000 * Number(process.env.TRACK_RETRY_SECONDS || 60);
const NOT_TRACKED_FILE = process.env.NOT_TRACKED_FILE || 'glp-not-tracked.jsonl';

// How long a sign-up's answer waits for the sidecar's: past it (the sidecar is restarting), the
// visitor is answered and the conversion goes on being retried in the background. Never hold the
// visitor for the whole retry: behind the sidecar, the sign-up's own request is one that a
// stopping sidecar waits for before the next one can start.
const SIGNUP_WAIT_MS = 3000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// A connection error, a timeout, 408, 429 and 5xx stored nothing for a reason of the moment.
const retryable = (status) => status === 408 || status === 429 || status >= 500;

// trackConversion posts one conversion to the sidecar until it answers 202 (queued) or 200
// (duplicate), with the order id as the Idempotency-Key, so that a retry never counts it twice.
// A 4xx says which field is wrong and would fail again as it is: it throws at once. Anything else
// is retried with backoff for RETRY_MS; then the conversion is kept in NOT_TRACKED_FILE and it
// throws.
async function trackConversion(req, order) {
  const body = {
    glpClickId: req.cookies._glp_cid ?? null, // set by the sidecar when the visitor landed
    email: order.email,
    ip: req.ip, // the visitor's, from the sidecar's X-Forwarded-For ('trust proxy' below)
    conversion_id: order.id, // a string: a number is refused with 400
  };
  const deadline = Date.now() + RETRY_MS;
  let backoff = 200;
  for (;;) {
    let failure;
    let wait = 0;
    let res;
    try {
      res = await fetch(`${SIDECAR_URL}/glp-s2s-conversion`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${INGEST_TOKEN}`,
          'Idempotency-Key': order.id,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
    } catch (err) { // refused, reset, timed out: nothing was answered
      failure = new Error(`sidecar unreachable: ${err.cause?.code || err.name}`);
    }
    if (res) {
      const answer = await res.json().catch(() => ({}));
      if (res.status === 202 || res.status === 200) {
        return answer; // {"status":"queued"|"duplicate","event_id":"…"}
      }
      failure = new Error(`sidecar answered ${res.status}: ${JSON.stringify(answer)}`);
      if (!retryable(res.status)) throw failure;
      wait = 1000 * Number(res.headers.get('Retry-After') || 0);
    }
    const pause = Math.min(Math.max(backoff * (0.75 + Math.random() / 2), wait), 5000);
    backoff = Math.min(2 * backoff, 5000);
    if (Date.now() + pause > deadline) {
      const line = { at: new Date().toISOString(), idempotency_key: order.id, body, error: failure.message };
      await fs.appendFile(NOT_TRACKED_FILE, JSON.stringify(line) + '\n', { mode: 0o600 });
      failure.message += ` (kept in ${NOT_TRACKED_FILE} for replay)`;
      throw failure;
    }
    await sleep(pause);
  }
}

const app = express();
app.set('trust proxy', 'loopback'); // the sidecar, in front of this app on the same host
app.use(cookieParser());
app.use(express.urlencoded({ extended: false }));

app.get('/', (req, res) => {
  res.type('html').send(`<h1>Welcome</h1>
<form method="post" action="/signup"><input name="email"><input name="order"><button>Sign up</button></form>`);
});

app.post('/signup', async (req, res) => {
  // your sign-up, stored first; its id is the conversion's. A missing id is refused, never replaced
  // by a stand-in such as "NaN" or "0", which would make every later sign-up a duplicate.
  const order = { id: String(req.body.order ?? '').trim(), email: req.body.email };
  res.type('text');
  if (!/^[\x21-\x7e]{1,256}$/.test(order.id)) { // it is also the Idempotency-Key header
    res.status(400).send('order: required, 1 to 256 printable characters without spaces');
    return;
  }
  const tracking = trackConversion(req, order);
  tracking.catch((err) => console.error(`conversion not tracked: ${err.message}`)); // alert on this line
  try {
    const answer = await Promise.race([tracking, sleep(SIGNUP_WAIT_MS).then(() => null)]);
    if (answer === null) {
      res.send('signed up; conversion pending: the sidecar has not answered yet, retrying in the background');
      return;
    }
    res.send(`signed up; conversion ${answer.status} (event ${answer.event_id})`);
  } catch (err) {
    res.send(`signed up; conversion not tracked: ${err.message}`);
  }
});

const port = Number(process.env.PORT || 3000);
app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
