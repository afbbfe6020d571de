# syntax=docker/dockerfile:1
# ticktalk image: every role runs from it (`serve --roles ...`); see k8s/README.md.
# The base is pinned by full version so a rebuild gives the same runtime. Node 22: locked dependencies
# (cookie under fastify, kubernetes-models) declare engines >=22, and Node 20 left support in April 2026.
ARG NODE_IMAGE=node:22.23.3-bookworm-slim

# --- build: all dependencies, compile TypeScript and bundle the web page into dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; we build explicitly below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && test -d dist/web

# --- deps: production dependencies only
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime: no compiler, no dev dependencies, owned by root, run as `node`
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    MQTT_PORT=1883 \
    HTTP_PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The only writable paths are DATA_DIR (embedded database, used only without DATABASE_URL) and /tmp;
# on Kubernetes both are volumes so the root filesystem can be mounted read-only.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
# uid/gid 1000; the manifests set runAsUser: 1000 so runAsNonRoot can be verified by the kubelet.
USER node
EXPOSE 1883 8080
# node runs as PID 1 and handles SIGTERM itself (graceful drain); no npm wrapper, which would
# swallow the signal and write logs under $HOME.
ENTRYPOINT ["node", "bin/ticktalk.js"]
CMD ["serve"]
