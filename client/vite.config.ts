// Vite build of the web app: root client/, output client/dist (served by `parallax serve`), module workers,
// and access to the engine and shaders one level up. Dev: `npx vite client` with the API proxied to :8080.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));
const api = process.env.PARALLAX_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root,
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 1024 },
  worker: { format: 'es' },
  server: {
    fs: { allow: [repo] },
    // The API only accepts state-changing calls from its own origin: the proxy presents the API's origin.
    proxy: {
      '/api/events': { target: api, ws: true, changeOrigin: true, configure: (p) => p.on('proxyReqWs', (req) => req.setHeader('origin', api)) },
      '/api': { target: api, changeOrigin: true, configure: (p) => p.on('proxyReq', (req) => req.setHeader('origin', api)) },
    },
  },
});
