<?php
// A provider's PHP app behind glp-sidecar (GLP_APP_URL points here). The sidecar keeps the
// affiliate's click id in the _glp_cid cookie; on sign-up this code posts the conversion to the
// sidecar as a server call. No extension beyond PHP's own (no curl needed).
//   SIDECAR_URL=http://127.0.0.1:8787 GLP_INGEST_TOKEN=… php -S 127.0.0.1:3000 index.php

// track_conversion posts one conversion to the sidecar and throws on anything but 202 (queued) or
// 200 (duplicate): a 4xx says which field is wrong and will fail again if retried as it is; a 5xx
// stored nothing, so retry later.
function track_conversion(array $order): array {
    $sidecar = getenv('SIDECAR_URL') ?: 'http://127.0.0.1:8787';
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: application/json\r\n"
            . 'Authorization: Bearer ' . getenv('GLP_INGEST_TOKEN') . "\r\n", // the sidecar's GLP_INGEST_TOKEN
        'content' => json_encode([
            'glpClickId' => $_COOKIE['_glp_cid'] ?? null, // set by the sidecar when the visitor landed
            'email' => $order['email'],
            'ip' => visitor_ip(),
            'conversion_id' => (string) $order['id'], // a string: a number is refused with 400
        ]),
        'timeout' => 5,
        'ignore_errors' => true, // read the body of 4xx and 5xx answers too
    ]]);
    $body = @file_get_contents("$sidecar/glp-s2s-conversion", false, $context);
    if ($body === false) {
        throw new RuntimeException("sidecar unreachable at $sidecar");
    }
    preg_match('{^HTTP/\S+ (\d{3})}', $http_response_header[0], $m);
    $status = (int) $m[1];
    if ($status !== 202 && $status !== 200) {
        throw new RuntimeException("sidecar answered $status: $body");
    }
    return json_decode($body, true); // ["status" => "queued"|"duplicate", "event_id" => "…"]
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
    $order = ['id' => (int) $_POST['order'], 'email' => $_POST['email']]; // your sign-up, stored first
    header('Content-Type: text/plain');
    try {
        $answer = track_conversion($order);
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
