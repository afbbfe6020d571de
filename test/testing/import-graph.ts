import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/**
 * The project's import graph as the files state it: every static `import ... from`,
 * `export ... from`, dynamic `import()` and `import type` of every .ts file, relative
 * specifiers resolved to repository paths (`broker/acl.ts`), packages kept by their name.
 */
export interface ImportGraph {
  /** Repository-relative path (forward slashes) → what it imports. */
  files: Map<string, FileImports>;
}

export interface FileImports {
  /** Project files, repository-relative. */
  local: string[];
  /** Package names (`aedes`, `@fastify/websocket`, `node:fs`). */
  packages: string[];
  /** Relative specifiers that name no file: a broken import the compiler would also refuse. */
  unresolved: string[];
}

const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'coverage', 'test-results', 'data']);

/** Tests and their helpers: they may reach anywhere to exercise the code. */
export function isTestFile(path: string): boolean {
  return /\.test\.ts$/.test(path) || /(^|\/)testing\//.test(path) || path.startsWith('test/');
}

export function buildImportGraph(root: string): ImportGraph {
  const files = new Map<string, FileImports>();
  for (const path of listTsFiles(root, root)) files.set(path, importsOf(root, path));
  return { files };
}

function listTsFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') || SKIPPED_DIRS.has(name)) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listTsFiles(root, full));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(toRepoPath(root, full));
  }
  return out.sort();
}

function importsOf(root: string, path: string): FileImports {
  const info = ts.preProcessFile(readFileSync(join(root, path), 'utf8'), true, true);
  const result: FileImports = { local: [], packages: [], unresolved: [] };
  for (const { fileName: specifier } of info.importedFiles) {
    if (!specifier.startsWith('.')) {
      result.packages.push(packageName(specifier));
      continue;
    }
    const target = resolveRelative(root, path, specifier);
    if (target === undefined) result.unresolved.push(specifier);
    else if (target.endsWith('.ts')) result.local.push(target);
  }
  return result;
}

/** `aedes/types/instance` → `aedes`, `@fastify/websocket/x` → `@fastify/websocket`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** NodeNext spells a .ts file `./x.js`; a directory import has no place in ESM. */
function resolveRelative(root: string, from: string, specifier: string): string | undefined {
  const base = resolve(root, dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), base];
  const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  return found === undefined ? undefined : toRepoPath(root, found);
}

function toRepoPath(root: string, full: string): string {
  return relative(root, full).split(sep).join('/');
}

/** Cycles as paths (`a.ts, b.ts, a.ts`): one per import that closes a loop, so every loop shows at least once. */
export function findCycles(graph: ImportGraph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.files.get(file)?.local ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.files.keys()) if (!state.has(file)) visit(file);
  return cycles;
}
