# syntax=docker/dockerfile:1
# A Kalam node image: `docker build -t kalam .` then `docker run -p 8080:8080 -e KALAM_ROOT_PASSWORD=… kalam`
# (a standalone node; deploy/compose.yaml and deploy/k8s/kalam.yaml run three-node clusters). The config is
# /etc/kalam/node.toml, data lives in the volume /var/lib/kalam, and any key can be overridden as KALAM_<SECTION>_<KEY>.
ARG NODE_IMAGE=node:20-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# better-sqlite3 downloads a prebuilt binary for Node 20 on linux x64/arm64; the toolchain is its fallback when none fits.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY . .
# Build with the dev tools (`npm run build`: the TypeScript projects, then the console's assets served at /console),
# then drop them: the runtime stage copies node_modules as pruned here, so native modules are not compiled twice.
# Sources, tests and build info stay behind.
RUN npm ci --no-audit --no-fund \
  && npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && rm -rf packages/*/src packages/*/test packages/*/dist/test packages/*/*.tsbuildinfo

FROM ${NODE_IMAGE}
# MALLOC_MMAP_THRESHOLD_: glibc returns large freed blocks to the kernel (packages/server/src/malloc-env.ts).
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=131072 \
    KALAM_HEALTH_URL=http://127.0.0.1:8080/v1/api/health/live
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/packages ./packages
COPY --from=build /src/bin ./bin
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs
COPY deploy/standalone.toml /etc/kalam/node.toml
# The image's `node` user (uid 1000) owns the data; nothing runs as root.
RUN mkdir -p /var/lib/kalam && chown node:node /var/lib/kalam
USER node
VOLUME /var/lib/kalam
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "/app/deploy/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/bin/kalam"]
CMD ["serve", "--config", "/etc/kalam/node.toml"]
