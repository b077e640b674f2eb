// proxy.ts (Next.js 16; middleware.ts before it, with `export function middleware`): keeps the
// affiliate's click id in a first-party cookie set by the server, as the sidecar's proxy would: a
// valid ?glp_click_id= on any page sets _glp_cid for 30 days (the last click wins).
import { NextResponse, type NextRequest } from 'next/server';

// The sidecar's rule: 1-256 printable ASCII characters, none of space " ' , ; \ < > & `
const VALID = /^[\x21-\x7e]{1,256}$/;
const FORBIDDEN = /["',;\\<>&`]/;

export function proxy(req: NextRequest) {
  const res = NextResponse.next();
  const id = req.nextUrl.searchParams.get('glp_click_id');
  if (id && VALID.test(id) && !FORBIDDEN.test(id)) {
    res.cookies.set('_glp_cid', id, {
      path: '/',
      maxAge: 30 * 24 * 3600,
      sameSite: 'lax',
      secure: req.nextUrl.protocol === 'https:',
    });
    res.headers.set('Cache-Control', 'private, no-store'); // never cache one visitor's click id
  }
  return res;
}
