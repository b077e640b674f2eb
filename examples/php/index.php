<?php
// A provider's PHP app behind glp-sidecar (GLP_APP_URL points here). The sidecar keeps the
// affiliate's click id in the _glp_cid cookie; on sign-up this code posts the conversion to the
// sidecar as a server call. No extension beyond PHP's own (no curl needed).
//   SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=… php -S 127.0.0.1:3000 index.php
// (php -S serves one request at a time: run PHP-FPM in production, so that one sign-up waiting
// out a restart of the sidecar holds no other.)

// How long to keep retrying a conversion the sidecar did not acknowledge (it restarts, its disk is
// full): 30 s at least. Then it is appended to NOT_TRACKED_FILE, one JSON line each, to send again
// later (docs/integration.md, "Replaying conversions not tracked").
const TRACK_RETRY_DEFAULT = 60;
// How long a sign-up's answer waits for the sidecar's under PHP-FPM: past it (the sidecar is
// restarting), the visitor is answered (fastcgi_finish_request) and the conversion goes on being
// retried. Never hold the visitor for the whole retry: behind the sidecar, the sign-up's own
// request is one that a stopping sidecar waits for before the next one can start.
const SIGNUP_WAIT = 3;

// track_conversion posts one conversion to the sidecar until it answers 202 (queued) or 200
// (duplicate), with the order id as the Idempotency-Key, so that a retry never counts it twice. A
// 4xx says which field is wrong and would fail again as it is: it throws at once. A connection
// error, a timeout, 408, 429 and 5xx stored nothing for a reason of the moment: retried with
// backoff for TRACK_RETRY_SECONDS; then the conversion is kept in NOT_TRACKED_FILE and it throws.
function track_conversion(array $order, ?callable $pending = null): array {
    $sidecar = getenv('SIDECAR_URL') ?: 'http://127.0.0.1:8787';
    $body = [
        'glpClickId' => $_COOKIE['_glp_cid'] ?? null, // set by the sidecar when the visitor landed
        'email' => $order['email'],
        'ip' => visitor_ip(),
        'conversion_id' => $order['id'], // a string: a number is refused with 400
    ];
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: application/json\r\n"
            . 'Authorization: Bearer ' . getenv('GLP_INGEST_TOKEN') . "\r\n" // the sidecar's GLP_INGEST_TOKEN
            . 'Idempotency-Key: ' . $order['id'] . "\r\n",
        'content' => json_encode($body),
        'timeout' => 5,
        'ignore_errors' => true, // read the body of 4xx and 5xx answers too
    ]]);
    $began = microtime(true);
    $deadline = $began + (int) (getenv('TRACK_RETRY_SECONDS') ?: TRACK_RETRY_DEFAULT);
    $backoff = 0.2;
    for (;;) {
        $wait = 0;
        unset($http_response_header); // set by each call that got an answer
        $answer = @file_get_contents("$sidecar/glp-s2s-conversion", false, $context);
        if ($answer === false || !isset($http_response_header[0])) {
            $failure = "sidecar unreachable at $sidecar"; // refused, reset or timed out
        } else {
            preg_match('{^HTTP/\S+ (\d{3})}', $http_response_header[0], $m);
            $status = (int) $m[1];
            if ($status === 202 || $status === 200) {
                return json_decode($answer, true); // ["status" => "queued"|"duplicate", "event_id" => "…"]
            }
            $failure = "sidecar answered $status: $answer";
            if ($status !== 408 && $status !== 429 && $status < 500) {
                throw new RuntimeException($failure);
            }
            foreach ($http_response_header as $h) {
                if (preg_match('{^Retry-After:\s*(\d+)}i', $h, $r)) {
                    $wait = (int) $r[1];
                }
            }
        }
        $pause = min(max($backoff * (0.75 + mt_rand() / mt_getrandmax() / 2), $wait), 5);
        $backoff = min(2 * $backoff, 5);
        if (microtime(true) + $pause > $deadline) {
            $file = getenv('NOT_TRACKED_FILE') ?: 'glp-not-tracked.jsonl';
            $line = ['at' => gmdate('Y-m-d\TH:i:s\Z'), 'idempotency_key' => $order['id'], 'body' => $body, 'error' => $failure];
            $old = umask(0077);
            file_put_contents($file, json_encode($line) . "\n", FILE_APPEND | LOCK_EX);
            umask($old);
            throw new RuntimeException("$failure (kept in $file for replay)");
        }
        if ($pending !== null && microtime(true) - $began > SIGNUP_WAIT) {
            $pending();
            $pending = null;
        }
        usleep((int) ($pause * 1e6));
    }
}

// visitor_ip is the visitor's address: the sidecar in front (on this host) appends it to
// X-Forwarded-For.
function visitor_ip(): string {
    $peer = $_SERVER['REMOTE_ADDR'];
    $forwarded = $_SERVER['HTTP_X_FORWARDED_FOR'] ?? '';
    if ($forwarded !== '' && in_array($peer, ['127.0.0.1', '::1'], true)) {
        $hops = explode(',', $forwarded);
        return trim(end($hops));
    }
    return $peer;
}

if ($_SERVER['REQUEST_METHOD'] === 'POST' && parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) === '/signup') {
    // your sign-up, stored first; its id is the conversion's. A missing id is refused, never
    // replaced by a stand-in such as "0", which would make every later sign-up a duplicate.
    $order = ['id' => trim((string) ($_POST['order'] ?? '')), 'email' => $_POST['email'] ?? ''];
    header('Content-Type: text/plain');
    if (!preg_match('/^[\x21-\x7e]{1,256}$/D', $order['id'])) { // it is also a header: never a line break
        http_response_code(400);
        echo 'order: required, 1 to 256 printable characters without spaces';
        return;
    }
    $pending = function_exists('fastcgi_finish_request') ? function () {
        echo 'signed up; conversion pending: the sidecar has not answered yet, retrying in the background';
        fastcgi_finish_request(); // the visitor has the answer; this script goes on
    } : null; // php -S: the visitor waits for the retries
    try {
        $answer = track_conversion($order, $pending);
        echo "signed up; conversion {$answer['status']} (event {$answer['event_id']})";
    } catch (RuntimeException $e) {
        error_log('conversion not tracked: ' . $e->getMessage()); // alert on this line
        echo 'signed up; conversion not tracked: ' . $e->getMessage();
    }
    return;
}
?>
<h1>Welcome</h1>
<form method="post" action="/signup"><input name="email"><input name="order"><button>Sign up</button></form>
