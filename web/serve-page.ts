import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Serves the built web page (dist/web/public, written by web/build.mjs) at `/`. The build is a
 * handful of files, so they are read once into memory with their gzip/brotli copies. Asset names
 * carry a content hash and are cached for a year; `index.html` is revalidated on every load so a
 * new build reaches browsers at once.
 */

export interface WebPageOptions {
  /** The built page; defaults to dist/web/public of this package. */
  root?: string;
}

interface Asset {
  body: Buffer;
  gzip?: Buffer;
  brotli?: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/** What the page may load and where it may connect: its own origin only (MQTT over WebSocket included). */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  // mqtt.js runs its keepalive timers in a worker made from a blob, so background tabs stay connected.
  "worker-src 'self' blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export async function registerWebPage(app: FastifyInstance, opts: WebPageOptions = {}): Promise<void> {
  const root = opts.root ?? join(packageRoot(), 'dist', 'web', 'public');
  const assets = loadAssets(root);
  const index = assets.get('/index.html');
  if (!index) {
    app.log.warn({ root }, 'web page not built: run `npm run build`; GET / answers 503 until then');
    app.get('/', async (_req, reply) =>
      reply.status(503).type('text/plain; charset=utf-8').send('The web page is not built. Run `npm run build` and restart.\n'),
    );
    return;
  }
  app.get('/', (req, reply) => send(req, reply, index, true));
  for (const [path, asset] of assets) {
    if (path === '/index.html') continue;
    app.get(path, (req, reply) => send(req, reply, asset, false));
  }
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset, page: boolean): FastifyReply {
  reply.header('cache-control', asset.cacheControl).header('etag', asset.etag).header('vary', 'accept-encoding');
  reply.header('x-content-type-options', 'nosniff');
  if (page) reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('referrer-policy', 'no-referrer');
  if (req.headers['if-none-match'] === asset.etag) return reply.status(304).send();
  const accepted = String(req.headers['accept-encoding'] ?? '');
  reply.type(asset.type);
  if (asset.brotli && /\bbr\b/.test(accepted)) return reply.header('content-encoding', 'br').send(asset.brotli);
  if (asset.gzip && /\bgzip\b/.test(accepted)) return reply.header('content-encoding', 'gzip').send(asset.gzip);
  return reply.send(asset.body);
}

function loadAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(root)) return assets;
  for (const name of readdirSync(root)) {
    if (name.endsWith('.gz') || name.endsWith('.br')) continue;
    const file = join(root, name);
    const body = readFileSync(file);
    const compressed = (suffix: string) => (existsSync(file + suffix) ? readFileSync(file + suffix) : undefined);
    const gzip = compressed('.gz');
    const brotli = compressed('.br');
    const ext = name.endsWith('.LEGAL.txt') ? '.txt' : extname(name);
    assets.set(`/${name}`, {
      body,
      ...(gzip ? { gzip } : {}),
      ...(brotli ? { brotli } : {}),
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      cacheControl: name === 'index.html' ? REVALIDATE : IMMUTABLE,
    });
  }
  return assets;
}

/** The directory holding package.json, whether this runs from web/ (tests) or dist/web/ (built). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('registerWebPage: package.json not found above web/serve-page');
}
