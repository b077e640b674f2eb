/* glp.js, served by glp-sidecar: keeps GLP Winner's click id for pages that are not behind the
   sidecar's proxy, and posts conversions to the sidecar. No dependencies.
     <script src="https://YOUR-SIDECAR/glp.js" defer></script>
     glp.convert({ email: "pat@example.com", conversionId: "ORDER-1" }).then(console.log);
*/
(function () {
  "use strict";
  var COOKIE = {{js .CookieName}}, PARAM = {{js .Param}}, MAX_AGE = {{js .MaxAge}}, DOMAIN = {{js .Domain}};
  var script = document.currentScript;
  var endpoint = new URL({{js .Endpoint}}, script && script.src ? script.src : location.href).href;
  var landing = {{js .Landing}} ? new URL({{js .Landing}}, script && script.src ? script.src : location.href).href : "";

  function valid(id) {
    return typeof id === "string" && id.length > 0 && id.length <= 256 && /^[\x21-\x7e]+$/.test(id) && !/[",;\\'<>&`]/.test(id);
  }
  function clickId() {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].replace(/^\s+/, "");
      if (p.indexOf(COOKIE + "=") === 0) {
        var v = p.substring(COOKIE.length + 1);
        return valid(v) ? v : null;
      }
    }
    return null;
  }
  function store() {
    var id = new URLSearchParams(location.search).get(PARAM);
    if (!valid(id)) return;
    var c = COOKIE + "=" + id + "; Path=/; Max-Age=" + MAX_AGE + "; SameSite=Lax";
    if (DOMAIN) c += "; Domain=" + DOMAIN;
    if (location.protocol === "https:") c += "; Secure";
    document.cookie = c; // last click wins
    report(id);
  }
  // report tells the sidecar that this browser landed on the click id, so that its conversion
  // from this page (a browser call) is taken as its own: the sidecar does not see a landing on a
  // page it does not serve, and logs the report with this browser's own address.
  function report(id) {
    if (!landing || typeof fetch !== "function") return;
    fetch(landing, {
      method: "POST",
      keepalive: true,
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ glpClickId: id })
    }).catch(function () {}); // a landing not reported costs only that corroboration
  }
  function convert(data) {
    data = data || {};
    var body = { glpClickId: clickId() };
    if (data.email) body.email = data.email;
    if (data.conversionId) body.conversion_id = data.conversionId;
    if (data.sessionToken) body.session_token = data.sessionToken;
    if (data.testMode) body.testMode = true;
    return fetch(endpoint, {
      method: "POST",
      keepalive: true, // survives the navigation that follows a sign-up
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { j.httpStatus = r.status; return j; });
    });
  }
  store();
  window.glp = window.glp || {};
  window.glp.clickId = clickId;
  window.glp.convert = convert;
})();
