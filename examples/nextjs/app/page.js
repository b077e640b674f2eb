// The landing page. proxy.ts has already kept ?glp_click_id= in the _glp_cid cookie.
export default function Landing() {
  return (
    <main>
      <h1>Welcome</h1>
      <a id="signup" href="/signup.html">Sign up</a>
    </main>
  );
}
