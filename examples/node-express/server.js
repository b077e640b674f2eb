// A provider's Express app behind glp-sidecar (GLP_APP_URL points here). The sidecar keeps the
// affiliate's click id in the _glp_cid cookie; on sign-up this server posts the conversion to the
// sidecar as a server call.   npm ci && SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=… node server.js
const express = require('express'); // npm install express cookie-parser
const cookieParser = require('cookie-parser');

const SIDECAR_URL = process.env.SIDECAR_URL || 'http://127.0.0.1:8787';
const INGEST_TOKEN = process.env.GLP_INGEST_TOKEN; // the sidecar's own GLP_INGEST_TOKEN

// trackConversion posts one conversion to the sidecar and throws on anything but 202 (queued) or
// 200 (duplicate): a 4xx says which field is wrong and will fail again if retried as it is; a 5xx
// stored nothing, so retry later.
async function trackConversion(req, order) {
  const res = await fetch(`${SIDECAR_URL}/glp-s2s-conversion`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${INGEST_TOKEN}` },
    body: JSON.stringify({
      glpClickId: req.cookies._glp_cid ?? null, // set by the sidecar when the visitor landed
      email: order.email,
      ip: req.ip, // the visitor's, from the sidecar's X-Forwarded-For ('trust proxy' below)
      conversion_id: String(order.id), // a string: a number is refused with 400
    }),
    signal: AbortSignal.timeout(5000),
  });
  const answer = await res.json().catch(() => ({}));
  if (res.status !== 202 && res.status !== 200) {
    throw new Error(`sidecar answered ${res.status}: ${JSON.stringify(answer)}`);
  }
  return answer; // {"status":"queued"|"duplicate","event_id":"…"}
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
  const order = { id: Number(req.body.order), email: req.body.email }; // your sign-up, stored first
  res.type('text');
  try {
    const answer = await trackConversion(req, order);
    res.send(`signed up; conversion ${answer.status} (event ${answer.event_id})`);
  } catch (err) {
    console.error(`conversion not tracked: ${err.message}`); // alert on this line
    res.send(`signed up; conversion not tracked: ${err.message}`);
  }
});

const port = Number(process.env.PORT || 3000);
app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
