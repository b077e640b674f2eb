// Next.js stays in front; the sidecar's own paths are forwarded to it. SIDECAR_URL is where
// Next.js reaches the sidecar, e.g. http://sidecar:8787.
const SIDECAR_URL = process.env.SIDECAR_URL || 'http://127.0.0.1:8787';

module.exports = {
  async rewrites() {
    return [
      { source: '/api/glp-s2s-conversion', destination: `${SIDECAR_URL}/api/glp-s2s-conversion` },
      { source: '/glp.js', destination: `${SIDECAR_URL}/glp.js` },
      // glp.js reports the landing here, so that the visitor's browser calls are taken as their own
      { source: '/glp-landing', destination: `${SIDECAR_URL}/glp-landing` },
    ];
  },
};
