# syntax=docker/dockerfile:1

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so source edits do not invalidate the npm ci layer.
COPY package*.json ./
RUN npm ci
COPY . .
# agent/dist and cli/dist may not exist yet; creating them keeps the runtime COPYs below valid.
RUN npm run build \
 && mkdir -p agent/dist cli/dist

# What the built server loads, and nothing else: no dev tools; no peers (TypeScript and SWC, which
# TypeORM's ts-node names but compiled code never loads); no optional packages (the embedded
# PostgreSQL's 60 MB of binaries: the image runs on DATABASE_URL). About 95 MB instead of 195 MB.
FROM node:20-bookworm-slim AS modules
WORKDIR /app
COPY package*.json ./
RUN npm ci --omit=dev --omit=optional --omit=peer --ignore-scripts \
 && npm cache clean --force

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
# Give it DATABASE_URL (it has no embedded PostgreSQL) and CORRAL_SECRETS_KEY at run time
# (docs/secrets.md); never bake a key into the image.
WORKDIR /app
# Root-owned and world-readable: the node user only reads them (it writes nothing when DATABASE_URL is set).
COPY --from=build /app/package.json ./
COPY --from=modules /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/agent/dist ./agent/dist
# Served at /downloads/ to the hosts and pipelines that fetch them.
COPY --from=build /app/cli/dist ./cli/dist
# Nothing installs packages at run time: no npm, npx or corepack in the image either.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack
USER node
EXPOSE 3000
# Slim images have no curl; Node 20 has fetch built in.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# A young generation big enough that a burst of requests is collected young (see package.json's start scripts).
CMD ["node", "--max-semi-space-size=32", "dist/src/main.js"]
