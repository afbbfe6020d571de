// Builds the web page into dist/web/public: bundled, minified, content-hashed JS and CSS, an
// index.html that names them, and gzip/brotli copies the server sends to clients that accept them.
// Run by `npm run build` (and so by `npm install` through `prepare`).
import { build } from 'esbuild';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'web', 'src');
const target = join(root, 'dist', 'web', 'public');
// Built beside the target and swapped in at the end, so a server starting meanwhile never reads
// half a build.
const out = `${target}.next-${process.pid}`;
const COMPRESSIBLE = /\.(js|css|html|map|svg|json)$/;

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const result = await build({
  entryPoints: { app: join(src, 'main.ts'), styles: join(src, 'styles.css') },
  outdir: out,
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
  conditions: ['production'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const assets = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  assets[meta.entryPoint.endsWith('.css') ? 'css' : 'js'] = `/${basename(file)}`;
}
const template = await readFile(join(src, 'index.html'), 'utf8');
await writeFile(join(out, 'index.html'), template.replace('{{css}}', assets.css).replace('{{js}}', assets.js));

const files = [...Object.keys(result.metafile.outputs).map((f) => join(root, f)), join(out, 'index.html')];
const sizes = [];
for (const file of files) {
  if (!COMPRESSIBLE.test(file)) continue;
  const body = await readFile(file);
  const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: file.endsWith('.map') ? 5 : 11 } });
  await writeFile(`${file}.gz`, gzipSync(body, { level: 9 }));
  await writeFile(`${file}.br`, br);
  if (!file.endsWith('.map')) sizes.push(`${relative(out, file)} ${(body.length / 1024).toFixed(0)} KiB (br ${(br.length / 1024).toFixed(0)} KiB)`);
}
const old = `${target}.old-${process.pid}`;
await rename(target, old).catch(() => {});
await rename(out, target);
await rm(old, { recursive: true, force: true });
console.log(`web page built into ${relative(root, target)}: ${sizes.join(', ')}`);
