import { defineConfig } from 'vite';

// Preact through the built-in JSX transform (no framework plugin). During `npm run dev`, API calls go
// to a Capillary API on CAPILLARY_API (default the dev server's port 3000).
const api = process.env.CAPILLARY_API ?? 'http://127.0.0.1:3000';
const proxied = ['/auth', '/experiments', '/sweeps', '/leaderboard', '/datasets', '/queue', '/volumes', '/health'];

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // NiiVue is big; it is loaded only by the prediction viewer.
    chunkSizeWarningLimit: 2500,
  },
  server: { proxy: Object.fromEntries(proxied.map((p) => [p, { target: api, changeOrigin: true }])) },
});
