"""Record an order and its conversion in one PostgreSQL transaction (docs/postgres.md, glp.enqueue).

The app keeps its orders in the database where the sidecar keeps its outbox (GLP_DB_URL): the
conversion is committed with the order, or rolled back with it. Debian: apt-get install python3-psycopg.
    DATABASE_URL=postgres://app:...@db/shop python3 enqueue.py ORDER_ID CLICK_ID [commit|rollback]
"""
import json
import os
import sys

import psycopg


def record_order(conn, order_id, click_id, email):
    """Insert the order and enqueue its conversion, in the caller's transaction."""
    conn.execute("INSERT INTO orders (id, email) VALUES (%s, %s)", (order_id, email))
    conversion = {"glpClickId": click_id, "email": email, "conversion_id": order_id}
    # The order id is the idempotency key: enqueuing it again returns the first event's id.
    (event_id,) = conn.execute("SELECT glp.enqueue(%s::jsonb, %s)", (json.dumps(conversion), order_id)).fetchone()
    return event_id


def main():
    order_id, click_id = sys.argv[1], sys.argv[2]
    outcome = sys.argv[3] if len(sys.argv) > 3 else "commit"
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, email text NOT NULL)")
        conn.commit()
        try:
            with conn.transaction():  # one transaction: the order and its conversion
                event_id = record_order(conn, order_id, click_id, "pat@example.com")
                if outcome == "rollback":
                    raise RuntimeError("payment declined")  # the order is not recorded: nor is its conversion
        except RuntimeError as e:
            print(json.dumps({"order": order_id, "stored": False, "why": str(e)}))
            return
        print(json.dumps({"order": order_id, "stored": True, "event_id": event_id}))


if __name__ == "__main__":
    main()
