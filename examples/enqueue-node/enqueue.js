// Record an order and its conversion in one PostgreSQL transaction (docs/postgres.md, glp.enqueue).
//
// The app keeps its orders in the database where the sidecar keeps its outbox (GLP_DB_URL): the
// conversion is committed with the order, or rolled back with it.
//   npm ci && DATABASE_URL=postgres://app:...@db/shop node enqueue.js ORDER_ID CLICK_ID [commit|rollback]
'use strict';
const { Client } = require('pg');

// recordOrder inserts the order and enqueues its conversion, in the caller's transaction.
async function recordOrder(client, orderId, clickId, email) {
  await client.query('INSERT INTO orders (id, email) VALUES ($1, $2)', [orderId, email]);
  const conversion = { glpClickId: clickId, email, conversion_id: orderId };
  // The order id is the idempotency key: enqueuing it again returns the first event's id.
  const { rows } = await client.query('SELECT glp.enqueue($1::jsonb, $2) AS event_id', [JSON.stringify(conversion), orderId]);
  return rows[0].event_id;
}

async function main() {
  const [orderId, clickId, outcome = 'commit'] = process.argv.slice(2);
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query('CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, email text NOT NULL)');
    await client.query('BEGIN'); // one transaction: the order and its conversion
    try {
      const eventId = await recordOrder(client, orderId, clickId, 'pat@example.com');
      if (outcome === 'rollback') throw new Error('payment declined'); // the order is not recorded: nor is its conversion
      await client.query('COMMIT');
      console.log(JSON.stringify({ order: orderId, stored: true, event_id: eventId }));
    } catch (e) {
      await client.query('ROLLBACK');
      if (e.message !== 'payment declined') throw e;
      console.log(JSON.stringify({ order: orderId, stored: false, why: e.message }));
    }
  } finally {
    await client.end();
  }
}

main().catch((e) => { console.error(e.message); process.exit(1); });
