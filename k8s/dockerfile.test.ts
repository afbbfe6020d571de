import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * No container engine runs on the CI machines, so the image is checked by reading its recipe:
 * the properties the manifests rely on (non-root uid 1000, read-only friendly, production
 * dependencies only, pinned base) must not drift.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());

/** Instructions without comments, continuation lines joined, split into stages. */
function stages(): { name: string; lines: string[] }[] {
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const out: { name: string; lines: string[] }[] = [];
  for (const line of instructions) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ name: from[1] ?? `stage${out.length}`, lines: [] });
    out.at(-1)?.lines.push(line);
  }
  return out;
}

describe('Dockerfile', () => {
  it('builds on a base pinned by full version, Node 20 on Debian bookworm slim', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20\.\d+\.\d+-bookworm-slim$/m);
    expect(stages().every((s) => s.lines[0].startsWith('FROM ${NODE_IMAGE}'))).toBe(true);
  });

  it('ships the build output with production dependencies only, run as the node user', () => {
    const all = stages();
    const runtime = all.at(-1)!;
    expect(all.length).toBeGreaterThanOrEqual(2);
    const deps = all.find((s) => runtime.lines.some((l) => l.startsWith(`COPY --from=${s.name} /app/node_modules`)));
    expect(deps?.lines.some((l) => /npm ci .*--omit=dev/.test(l)), 'node_modules from an --omit=dev install').toBe(true);
    expect(runtime.lines.some((l) => /^COPY --from=\S+ \/app\/dist /.test(l))).toBe(true);
    expect(runtime.lines.some((l) => /^RUN .*npm (ci|install)/.test(l)), 'no install in the runtime stage').toBe(false);
    expect(runtime.lines.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER node');
    // The web page is part of the build output.
    expect(all.some((s) => s.lines.some((l) => /npm run build/.test(l) && /test -d dist\/web/.test(l)))).toBe(true);
  });

  it('starts node directly (signals reach the app) with the serve command and the ports the manifests use', () => {
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/ticktalk\.js"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["serve"\]$/m);
    expect(dockerfile).toMatch(/^EXPOSE 1883 8080$/m);
    expect(dockerfile).toMatch(/DATA_DIR=\/data/);
  });

  it('keeps local builds, dependencies, data and VCS out of the build context', () => {
    for (const entry of ['.git', 'node_modules', 'dist', 'data', '.tmp']) expect(ignored, entry).toContain(entry);
  });
});
