import ts from 'typescript';

/**
 * The length of every function of a .ts file, counted as ESLint's `max-lines-per-function` with
 * `skipBlankLines` and `skipComments` counts it: the lines from the function's first to its last that
 * hold code, blank and comment-only lines left out.
 */
export interface FunctionLength {
  /** 1-based line the function starts on. */
  line: number;
  /** Its name where it has one (`sessionBounds`, `it: …`), else `(anonymous)`. */
  name: string;
  /** Lines with code from its first line to its last. */
  lines: number;
  /** A callback passed directly to `describe`, `describe.each(...)`, `describe.skipIf(...)` and so on. */
  describeCallback: boolean;
}

export function functionLengths(fileName: string, text: string): FunctionLength[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const codeLines = linesWithCode(source);
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line;
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionWithBody(node)) {
      const first = lineOf(node.getStart(source));
      const last = lineOf(node.getEnd());
      let lines = 0;
      for (let line = first; line <= last; line++) if (codeLines.has(line)) lines++;
      found.push({ line: first + 1, name: nameOf(node, source), lines, describeCallback: isDescribeCallback(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * 0-based lines that some token (not a comment) touches, a multi-line string each of its lines; a line
 * of white space only is blank even inside a string, as ESLint counts it.
 */
function linesWithCode(source: ts.SourceFile): Set<number> {
  const blank = source.text.split('\n').map((line) => line.trim() === '');
  const lines = new Set<number>();
  const visit = (node: ts.Node): void => {
    if (ts.isJSDoc(node)) return;
    const children = node.getChildren(source);
    if (children.length > 0) {
      children.forEach(visit);
      return;
    }
    const start = node.getStart(source);
    if (start >= node.getEnd()) return;
    const last = source.getLineAndCharacterOfPosition(node.getEnd() - 1).line;
    for (let line = source.getLineAndCharacterOfPosition(start).line; line <= last; line++) if (!blank[line]) lines.add(line);
  };
  visit(source);
  return lines;
}

function isFunctionWithBody(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    (ts.isFunctionDeclaration(node) ||
      ts.isFunctionExpression(node) ||
      ts.isArrowFunction(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessorDeclaration(node) ||
      ts.isSetAccessorDeclaration(node)) &&
    node.body !== undefined
  );
}

/** `describe`, `describe.skip`, `describe.each(table)`, `describe.skipIf(cond)`: a group of tests. */
function isDescribe(callee: ts.Expression): boolean {
  if (ts.isIdentifier(callee)) return callee.text === 'describe';
  if (ts.isPropertyAccessExpression(callee) || ts.isCallExpression(callee)) return isDescribe(callee.expression);
  return false;
}

function isDescribeCallback(node: ts.Node): boolean {
  const call = node.parent;
  return ts.isCallExpression(call) && call.arguments.some((a) => a === node) && isDescribe(call.expression);
}

function nameOf(node: ts.FunctionLikeDeclaration, source: ts.SourceFile): string {
  if (node.name !== undefined) return node.name.getText(source);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText(source);
  if (ts.isCallExpression(parent)) {
    const title = parent.arguments[0];
    const label = title !== undefined && ts.isStringLiteralLike(title) ? `: ${title.text}` : '';
    return `${parent.expression.getText(source)}${label}`;
  }
  return '(anonymous)';
}
