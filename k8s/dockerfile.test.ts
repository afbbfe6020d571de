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
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim());

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
  it('builds on a base pinned by full version, Node 22 on Debian bookworm slim', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22\.\d+\.\d+-bookworm-slim$/m);
    expect(stages().every((s) => s.lines[0].startsWith('FROM ${NODE_IMAGE}'))).toBe(true);
  });

  it('runs a Node every locked dependency accepts (npm ci warns of none)', () => {
    const node = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)/m.exec(dockerfile)![1];
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };
    const refused = Object.entries(lock.packages).filter(([, p]) => p.engines?.node && !satisfies(node, p.engines.node));
    expect(refused.map(([name, p]) => `${name} wants node ${p.engines!.node}`)).toEqual([]);
  });

  it('ships the build output with production dependencies only, run as the node user', () => {
    const all = stages();
    const runtime = all.at(-1)!;
    expect(all.length).toBeGreaterThanOrEqual(2);
    const deps = all.find((s) => runtime.lines.some((l) => l.startsWith(`COPY --from=${s.name} /app/node_modules`)));
    expect(
      deps?.lines.some((l) => /npm ci .*--omit=dev/.test(l)),
      'node_modules from an --omit=dev install',
    ).toBe(true);
    expect(runtime.lines.some((l) => /^COPY --from=\S+ \/app\/dist /.test(l))).toBe(true);
    expect(
      runtime.lines.some((l) => /^RUN .*npm (ci|install)/.test(l)),
      'no install in the runtime stage',
    ).toBe(false);
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

/** npm's `engines` ranges as the lock holds them: `||` of space-separated `>= > <= < ^ ~ =` comparators, `x` wildcards. */
function satisfies(version: string, range: string): boolean {
  const v = version.split('.').map(Number);
  return range.split('||').some((part) =>
    part
      .trim()
      .replace(/([<>=^~]+)\s+/g, '$1')
      .split(/\s+/)
      .every((comparator) => {
        const [, op = '', text = ''] = /^([<>=^~]*)(.*)$/.exec(comparator)!;
        const want = text
          .split('.')
          .filter((p) => p !== '' && p !== 'x' && p !== '*')
          .map(Number);
        const cmp = compareParts(v, want);
        if (op === '>=') return cmp >= 0;
        if (op === '>') return cmp > 0;
        if (op === '<=') return cmp <= 0;
        if (op === '<') return cmp < 0;
        if (op === '^') return cmp >= 0 && v[0] === want[0];
        if (op === '~') return cmp >= 0 && v[0] === want[0] && (want.length < 2 || v[1] === want[1]);
        return want.every((n, i) => v[i] === n);
      }),
  );
}

/** Compares on the parts `want` gives (`>=20` is `>=20.0.0`; `20` alone is any 20.x). */
function compareParts(v: number[], want: number[]): number {
  for (let i = 0; i < 3; i++) {
    const d = (v[i] ?? 0) - (want[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
