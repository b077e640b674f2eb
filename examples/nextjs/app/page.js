// The landing page. proxy.ts has already kept ?glp_click_id= in the _glp_cid cookie; glp.js
// (from the sidecar, through the rewrite) reports the landing to the sidecar, which does not see
// this page, so that the visitor's conversion from the sign-up page is taken as their own.
import Script from 'next/script';

export default function Landing() {
  return (
    <main>
      <Script src="/glp.js" strategy="afterInteractive" />
      <h1>Welcome</h1>
      <a id="signup" href="/signup.html">Sign up</a>
    </main>
  );
}
