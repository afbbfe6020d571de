import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { functionLengths } from './testing/function-length.js';
import { buildImportGraph, findCycles, isTestFile, type ImportGraph } from './testing/import-graph.js';

/**
 * The layers of the code, checked on its import graph (no services needed): what may import what,
 * no cycles, the simulator's tables out of production, Aedes behind its fence.
 */

/**
 * Files that still import Aedes outside `broker/aedes/` until the fence (issue 13 item 1) merges.
 * Empty it then: an entry that no longer imports Aedes fails the test too.
 */
const FENCE_PENDING: readonly string[] = [];

/**
 * Production files that still make their own Redis connection until the broker takes its
 * connections from RedisConnections (the broker split). Empty it then, as FENCE_PENDING.
 */
const REDIS_FACTORY_PENDING: readonly string[] = [];

/** ESLint's `max-lines-per-function` (eslint.config.js), here for test code too. */
const MAX_FUNCTION_LINES = 60;

const AEDES_PACKAGES = /^(aedes|aedes-packet|aedes-persistence.*|mqemitter.*)$/;
/** The simulator and its per-symbol walk tables. */
const SIMULATOR = /^bridges\/(simulator|tick-generator)\.ts$/;
/** Folders that may start the simulator: the bridges themselves and the composition root. */
const SIMULATOR_USERS = new Set(['bridges', 'cli']);
/** Operator tools and deployment, not the running service: they may drive the simulator directly. */
const TOOL_FOLDERS = new Set(['bench', 'fixtures', 'k8s']);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const graph = buildImportGraph(root);

const folderOf = (path: string) => path.split('/')[0];
const isProduction = (path: string) => !isTestFile(path) && !TOOL_FOLDERS.has(folderOf(path));

/** `from → to` for every project import of a non-test file that `allowed` refuses. */
function forbiddenImports(from: (path: string) => boolean, allowed: (from: string, to: string) => boolean): string[] {
  const found: string[] = [];
  for (const [file, imports] of graph.files) {
    if (isTestFile(file) || !from(file)) continue;
    for (const target of imports.local) if (!allowed(file, target)) found.push(`${file} → ${target}`);
  }
  return found;
}

describe('architecture', () => {
  it('sees the whole project, every relative import resolved', () => {
    expect(graph.files.size).toBeGreaterThan(100);
    const unresolved = [...graph.files].flatMap(([file, { unresolved }]) => unresolved.map((s) => `${file}: ${s}`));
    expect(unresolved).toEqual([]);
  });

  it('protocol/ imports nothing from other project folders', () => {
    expect(
      forbiddenImports(
        (f) => folderOf(f) === 'protocol',
        (_, to) => folderOf(to) === 'protocol',
      ),
    ).toEqual([]);
  });

  it('platform/ imports only protocol/ and itself', () => {
    const lower = new Set(['protocol', 'platform']);
    expect(
      forbiddenImports(
        (f) => folderOf(f) === 'platform',
        (_, to) => lower.has(folderOf(to)),
      ),
    ).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(findCycles(graph).map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('production code never imports the simulator or its tables, except bridges/ and cli/', () => {
    const offenders = forbiddenImports(
      (f) => isProduction(f) && !SIMULATOR_USERS.has(folderOf(f)),
      (_, to) => !SIMULATOR.test(to),
    );
    expect(offenders).toEqual([]);
  });

  it('only broker/aedes/ imports aedes, aedes-packet, aedes-persistence* or mqemitter* (types included)', () => {
    const importers = [...graph.files]
      .filter(([file, { packages }]) => !file.startsWith('broker/aedes/') && packages.some((p) => AEDES_PACKAGES.test(p)))
      .map(([file]) => file);
    expect(importers.filter((f) => !FENCE_PENDING.includes(f))).toEqual([]);
    expect(
      FENCE_PENDING.filter((f) => !importers.includes(f)),
      'FENCE_PENDING entries that no longer import Aedes',
    ).toEqual([]);
  });

  it('makes every Redis connection of production code in platform/redis.ts (one error policy)', () => {
    const makers = [...graph.files.keys()].filter(
      (file) => isProduction(file) && file !== 'platform/redis.ts' && /\bnew\s+(Redis|Cluster)\s*\(/.test(readFileSync(join(root, file), 'utf8')),
    );
    expect(makers.filter((f) => !REDIS_FACTORY_PENDING.includes(f))).toEqual([]);
    expect(
      REDIS_FACTORY_PENDING.filter((f) => !makers.includes(f)),
      'REDIS_FACTORY_PENDING entries that no longer connect',
    ).toEqual([]);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines of code, tests included, but the callbacks of describe (they only group tests)`, () => {
    // ESLint bounds production code; in test code it cannot tell a describe callback from an `it`.
    const long = [...graph.files.keys()].flatMap((file) =>
      functionLengths(file, readFileSync(join(root, file), 'utf8'))
        .filter((f) => f.lines > MAX_FUNCTION_LINES && !f.describeCallback)
        .map((f) => `${file}:${f.line} ${f.name} (${f.lines} lines)`),
    );
    expect(long).toEqual([]);
  });
});

describe('the import graph', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ticktalk-graph-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };

  it('follows static, type-only, re-exporting and dynamic imports, and reports each cycle', () => {
    write('a/one.ts', "import type { T } from '../b/two.js';\nexport * from './three.js';\nimport 'aedes/types';\n");
    write('a/three.ts', "export const x = await import('../b/two.js');\nimport { y } from './missing.js';\n");
    write('b/two.ts', "import { z } from '../a/one.js';\nimport type { P } from '@scope/pkg/sub';\n");
    write('b/two.test.ts', "import { z } from '../a/one.js';\n");
    write('node_modules/x/index.ts', "import '../../a/one.js';\n");
    const g: ImportGraph = buildImportGraph(dir);
    expect([...g.files.keys()]).toEqual(['a/one.ts', 'a/three.ts', 'b/two.test.ts', 'b/two.ts']);
    expect(g.files.get('a/one.ts')).toEqual({ local: ['b/two.ts', 'a/three.ts'], packages: ['aedes'], unresolved: [] });
    expect(g.files.get('a/three.ts')).toEqual({ local: ['b/two.ts'], packages: [], unresolved: ['./missing.js'] });
    expect(g.files.get('b/two.ts')?.packages).toEqual(['@scope/pkg']);
    expect(findCycles(g)).toEqual([['a/one.ts', 'b/two.ts', 'a/one.ts']]);
  });
});

describe('the function length count', () => {
  it('counts lines with code as ESLint does (no blank or comment-only ones) and knows the callbacks of describe', () => {
    const text = [
      "describe.each([1])('group %s', () => {",
      "  it('case', () => {",
      '    const a = 1;',
      '',
      '    // a comment',
      '    /* a block',
      '       comment */ const b = a;',
      '  });',
      '});',
      'function named() {',
      '  return `a',
      '',
      'b`;',
      '}',
      "describe.skipIf(false)('skipped', function () {});",
    ].join('\n');
    expect(functionLengths('x.test.ts', text)).toEqual([
      { line: 1, name: 'describe.each([1]): group %s', lines: 6, describeCallback: true },
      { line: 2, name: 'it: case', lines: 4, describeCallback: false },
      { line: 10, name: 'named', lines: 4, describeCallback: false },
      { line: 15, name: 'describe.skipIf(false): skipped', lines: 1, describeCallback: true },
    ]);
  });
});
