import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

/** The fields every rendered object has; the rest is read through the narrower views below. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/**
 * Renders a kustomization with the kubectl on the machine (`kubectl kustomize`, offline) and parses
 * every document. A kustomize or YAML error fails with kubectl's own message.
 */
export function renderKustomization(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(`kubectl kustomize ${dir} failed: ${stderr.trim()}`, { cause: err });
  }
  return parseAllDocuments(out).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`document ${i} of ${dir}: ${doc.errors[0].message}`);
    const obj = doc.toJS() as K8sObject;
    if (!obj?.kind || !obj.metadata?.name) throw new Error(`document ${i} of ${dir} has no kind or name`);
    return obj;
  });
}
