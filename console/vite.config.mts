import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

// The control plane serves the build from dist/console (see src/console/console.module.ts).
// `npm run console:dev` serves it with hot reload, sending API calls to a control plane on :3000.
export default defineConfig({
  root,
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    proxy: { '/api': { target: process.env.CORRAL_API ?? 'http://localhost:3000', changeOrigin: false } },
  },
});
