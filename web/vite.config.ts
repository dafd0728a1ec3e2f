import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The viewer builds to web/dist, which the collector serves; `vite` alone serves it in
// development with the API proxied to a local collector.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: { proxy: { '/api': { target: 'http://127.0.0.1:7470', ws: true } } },
});
