import type { K8sObject } from './render.js';

/**
 * Read-only views over rendered manifests: the parts of pods, Services and NetworkPolicies the
 * invariants look at, and the rules Kubernetes applies to them (label selection, environment
 * assembly, policy isolation), written out so the tests state intent rather than YAML paths.
 */

export type Labels = Record<string, string>;

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}

export interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
  periodSeconds?: number;
  failureThreshold?: number;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  enableServiceLinks?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  topologySpreadConstraints?: { topologyKey: string; labelSelector?: { matchLabels?: Labels } }[];
  volumes?: { name: string; emptyDir?: object; persistentVolumeClaim?: object; secret?: { secretName: string } }[];
}

/** A Deployment or StatefulSet, seen through its pod template. */
export interface Workload {
  kind: 'Deployment' | 'StatefulSet';
  name: string;
  replicas: number | undefined;
  selector: Labels;
  labels: Labels;
  annotations: Labels;
  pod: PodSpec;
  claimTemplates: string[];
  object: K8sObject;
}

export function workloads(objects: K8sObject[]): Workload[] {
  return objects
    .filter((o): o is K8sObject & { kind: Workload['kind'] } => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => {
      const spec = o.spec as {
        replicas?: number;
        selector: { matchLabels: Labels };
        template: { metadata: { labels?: Labels; annotations?: Labels }; spec: PodSpec };
        volumeClaimTemplates?: { metadata: { name: string } }[];
      };
      return {
        kind: o.kind,
        name: o.metadata.name,
        replicas: spec.replicas,
        selector: spec.selector.matchLabels,
        labels: spec.template.metadata.labels ?? {},
        annotations: spec.template.metadata.annotations ?? {},
        pod: spec.template.spec,
        claimTemplates: (spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name),
        object: o,
      };
    });
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function named(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

/** matchLabels semantics: every pair present. An empty selector selects everything. */
export function selects(selector: Labels | undefined, labels: Labels): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

export function allContainers(pod: PodSpec): Container[] {
  return [...(pod.initContainers ?? []), ...pod.containers];
}

/** The value of `--roles` (or `--roles=`) in a container's arguments. */
export function rolesArgument(container: Container): string | undefined {
  const args = container.args ?? [];
  const i = args.indexOf('--roles');
  if (i >= 0) return args[i + 1];
  return args.find((a) => a.startsWith('--roles='))?.slice('--roles='.length);
}

/** Seconds the preStop hook waits (exec `sleep N` or the native sleep action); 0 without one. */
export function preStopSeconds(container: Container): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  if (command[0] === 'sleep' && command.length === 2) return Number(command[1]);
  if (command.length > 0) throw new Error(`preStop ${JSON.stringify(command)} is not a plain sleep`);
  return 0;
}

/** Secret data as text, from `data` (base64) and `stringData`. */
export function secretData(secret: K8sObject): Record<string, string> {
  const data = (secret.data ?? {}) as Record<string, string>;
  const decoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  return { ...decoded, ...((secret.stringData ?? {}) as Record<string, string>) };
}

/**
 * The environment a container starts with, assembled as the kubelet does: envFrom sources in
 * order, then `env` entries, later ones winning. Secrets not in the rendered output (created by the
 * operator) come from `external`; a field reference becomes `fieldValue`.
 */
export function containerEnv(
  container: Container,
  objects: K8sObject[],
  external: (secretName: string) => Record<string, string>,
  fieldValue = 'pod-name-0',
): Record<string, string> {
  const secret = (name: string) => {
    const found = named(objects, 'Secret', name);
    return found ? secretData(found) : external(name);
  };
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) {
      const cm = named(objects, 'ConfigMap', source.configMapRef.name);
      if (!cm) throw new Error(`ConfigMap ${source.configMapRef.name} is not rendered`);
      Object.assign(env, cm.data as Record<string, string>);
    }
    if (source.secretRef) Object.assign(env, secret(source.secretRef.name));
  }
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.fieldRef) env[v.name] = fieldValue;
    else if (v.valueFrom?.secretKeyRef) {
      const value = secret(v.valueFrom.secretKeyRef.name)[v.valueFrom.secretKeyRef.key];
      if (value === undefined) throw new Error(`${v.name}: key ${v.valueFrom.secretKeyRef.key} missing`);
      env[v.name] = value;
    }
  }
  return env;
}

/** Names of the Secrets a pod refers to (environment, volumes). */
export function referencedSecrets(pod: PodSpec): string[] {
  const names = new Set<string>();
  for (const c of allContainers(pod)) {
    for (const s of c.envFrom ?? []) if (s.secretRef) names.add(s.secretRef.name);
    for (const v of c.env ?? []) if (v.valueFrom?.secretKeyRef) names.add(v.valueFrom.secretKeyRef.name);
  }
  for (const v of pod.volumes ?? []) if (v.secret) names.add(v.secret.secretName);
  return [...names];
}

/** Kubernetes quantities: "250m" CPU, "512Mi" memory, plain numbers. */
export function quantity(text: string | number): number {
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(text));
  if (!match) throw new Error(`not a quantity: ${text}`);
  const units: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
  const unit = units[match[2]];
  if (unit === undefined) throw new Error(`unknown unit in ${text}`);
  return Number(match[1]) * unit;
}

export type Direction = 'ingress' | 'egress';

export interface PolicyRule {
  policy: string;
  /** "TCP/1883"; "*" when the rule names no ports. */
  ports: string[];
  /** The rule's peers (`from` or `to`); empty means any peer. */
  peers: { podSelector?: { matchLabels?: Labels }; namespaceSelector?: { matchLabels?: Labels }; ipBlock?: object }[];
}

/**
 * The NetworkPolicy rules that apply to a pod in one direction. `isolated` is false when no policy
 * covers that direction, in which case Kubernetes allows all traffic.
 */
export function policyRules(objects: K8sObject[], podLabels: Labels, direction: Direction): { isolated: boolean; rules: PolicyRule[] } {
  let isolated = false;
  const rules: PolicyRule[] = [];
  for (const np of ofKind(objects, 'NetworkPolicy')) {
    const spec = np.spec as {
      podSelector: { matchLabels?: Labels };
      policyTypes?: string[];
      ingress?: { from?: PolicyRule['peers']; ports?: { protocol?: string; port: number }[] }[];
      egress?: { to?: PolicyRule['peers']; ports?: { protocol?: string; port: number }[] }[];
    };
    if (!selects(spec.podSelector.matchLabels, podLabels)) continue;
    const types = spec.policyTypes ?? ['Ingress'];
    if (!types.includes(direction === 'ingress' ? 'Ingress' : 'Egress')) continue;
    isolated = true;
    for (const rule of (direction === 'ingress' ? spec.ingress : spec.egress) ?? []) {
      const peers = ('from' in rule ? rule.from : 'to' in rule ? rule.to : undefined) ?? [];
      const ports = rule.ports?.map((p) => `${p.protocol ?? 'TCP'}/${p.port}`) ?? ['*'];
      rules.push({ policy: np.metadata.name, ports, peers });
    }
  }
  return { isolated, rules };
}

export function allowedPorts(rules: PolicyRule[]): Set<string> {
  return new Set(rules.flatMap((r) => r.ports));
}
