import Fastify from 'fastify';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { registerWebPage } from './serve-page.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function builtPage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ticktalk-web-'));
  dirs.push(dir);
  const html = '<!doctype html><script type="module" src="/app-ABC.js"></script>';
  const js = 'console.log("ticktalk")';
  writeFileSync(join(dir, 'index.html'), html);
  writeFileSync(join(dir, 'index.html.br'), brotliCompressSync(html));
  writeFileSync(join(dir, 'app-ABC.js'), js);
  writeFileSync(join(dir, 'app-ABC.js.gz'), gzipSync(js));
  return dir;
}

async function server(root: string) {
  const app = Fastify();
  await registerWebPage(app, { root });
  app.get('/udf/time', async () => 1);
  return app;
}

describe('registerWebPage', () => {
  it('serves the page at / revalidated on every load, with a strict content security policy', async () => {
    const app = await server(builtPage());
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(res.body).toContain('/app-ABC.js');

    const again = await app.inject({ url: '/', headers: { 'if-none-match': String(res.headers.etag) } });
    expect(again.statusCode).toBe(304);
  });

  it('serves hashed assets for a year, compressed when the client accepts it', async () => {
    const app = await server(builtPage());
    const plain = await app.inject({ url: '/app-ABC.js' });
    expect([plain.statusCode, plain.headers['cache-control'], plain.body]).toEqual([
      200,
      'public, max-age=31536000, immutable',
      'console.log("ticktalk")',
    ]);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');

    const gz = await app.inject({ url: '/app-ABC.js', headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    const br = await app.inject({ url: '/', headers: { 'accept-encoding': 'gzip, br' } });
    expect(br.headers['content-encoding']).toBe('br');
  });

  it('leaves other routes alone and answers 404 for files it does not have', async () => {
    const app = await server(builtPage());
    expect((await app.inject({ url: '/udf/time' })).body).toBe('1');
    expect((await app.inject({ url: '/secret.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/../package.json' })).statusCode).toBe(404);
  });

  it('answers 503 with what to do when the page was never built', async () => {
    const app = await server(join(tmpdir(), 'ticktalk-web-missing-build'));
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build');
  });
});
