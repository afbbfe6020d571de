import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configVars, loadConfig, type Config } from '../protocol/config.js';
import { ROLE_NAMES, parseRoles, type RoleName } from '../cli/app.js';
import { renderKustomization, type K8sObject } from './testing/render.js';
import { schemaProblem } from './testing/schema.js';
import type { PrometheusRule, ServiceMonitor } from './testing/monitoring-schema.js';
import {
  allContainers,
  allowedPorts,
  containerEnv,
  named,
  ofKind,
  policyRules,
  preStopSeconds,
  quantity,
  referencedSecrets,
  rolesArgument,
  selects,
  workloads,
  type Container,
  type Labels,
  type Workload,
} from './testing/cluster.js';

const k8sDir = dirname(fileURLToPath(import.meta.url));
const readme = readFileSync(join(k8sDir, 'README.md'), 'utf8');
const packageVersion = (JSON.parse(readFileSync(join(k8sDir, '..', 'package.json'), 'utf8')) as { version: string }).version;

/** Variables that are credentials or carry them: Secrets only, never the ConfigMap. */
const SECRET_VARS = ['AUTH_JWT_SECRET', 'REDIS_URL', 'DATABASE_URL', 'AMQP_URL'];
/** What the app needs after preStop and the MQTT drain: closing the HTTP server, broker and stores. */
const MIN_SHUTDOWN_MARGIN_S = 10;
const DNS = ['UDP/53', 'TCP/53'];
/** Per role, the ports it accepts and the ports it connects to (Redis, PostgreSQL, RabbitMQ). */
const NEEDS: Record<RoleName, { ingress: string[]; egress: string[] }> = {
  broker: { ingress: ['TCP/1883', 'TCP/8080'], egress: ['TCP/6379', 'TCP/5432'] },
  bridge: { ingress: ['TCP/8080'], egress: ['TCP/6379', 'TCP/5432', 'TCP/5672', 'TCP/5671'] },
  ohlcv: { ingress: ['TCP/8080'], egress: ['TCP/6379', 'TCP/5432', 'TCP/5672', 'TCP/5671'] },
  web: { ingress: ['TCP/8080'], egress: ['TCP/6379', 'TCP/5432'] },
};
/** Roles reached from outside the cluster (load balancer, Ingress controller); the rest only from inside. */
const PUBLIC_ROLES: RoleName[] = ['broker', 'web'];

/** The secret an operator creates for prod, exactly as README.md tells them to. */
function readmeSecretLiterals(): Record<string, string> {
  const block = /kubectl -n ticktalk create secret generic ticktalk-secrets[^`]*/.exec(readme)?.[0];
  if (!block) throw new Error('README.md has no `kubectl -n ticktalk create secret generic ticktalk-secrets` command');
  return Object.fromEntries([...block.matchAll(/--from-literal=([A-Z_]+)='([^']*)'/g)].map((m) => [m[1], m[2]]));
}

/** The site overlay README.md shows, rendered from where it says to put it (a scratch copy). */
const SITE_MARKER = '# k8s/overlays/site/kustomization.yaml';
function renderReadmeSiteOverlay(): K8sObject[] {
  const block = new RegExp('```yaml\\n(' + SITE_MARKER + '\\n[\\s\\S]*?)```').exec(readme)?.[1];
  if (!block) throw new Error(`README.md has no yaml block starting with "${SITE_MARKER}"`);
  // Inside overlays/ so the example's relative paths resolve (kustomize refuses absolute ones).
  const dir = mkdtempSync(join(k8sDir, 'overlays', '.site-test-'));
  try {
    writeFileSync(join(dir, 'kustomization.yaml'), block);
    return renderKustomization(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Overlay {
  name: string;
  namespace: string;
  /** Rendered on first use, so a kustomize error fails the tests that need it, not the file. */
  objects: () => K8sObject[];
  /** Secrets the manifests use but do not contain (the operator creates them), with example data. */
  external: Record<string, Record<string, string>>;
}

function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

const prodExternal = { 'ticktalk-secrets': readmeSecretLiterals(), 'ticktalk-tls': {} };
const dev: Overlay = {
  name: 'dev',
  namespace: 'ticktalk-dev',
  objects: once(() => renderKustomization(join(k8sDir, 'overlays/dev'))),
  external: {},
};
const prod: Overlay = {
  name: 'prod',
  namespace: 'ticktalk',
  objects: once(() => renderKustomization(join(k8sDir, 'overlays/prod'))),
  external: prodExternal,
};
const site: Overlay = { name: 'README site overlay', namespace: 'ticktalk', objects: once(renderReadmeSiteOverlay), external: prodExternal };

function ticktalkPods(objects: K8sObject[]): Workload[] {
  return workloads(objects).filter((w) => w.labels['app.kubernetes.io/name'] === 'ticktalk');
}

function appContainer(w: Workload): Container {
  const c = w.pod.containers.find((x) => x.name === 'ticktalk');
  if (!c) throw new Error(`${w.name} has no ticktalk container`);
  return c;
}

function rolesOf(w: Workload): RoleName[] {
  return parseRoles(rolesArgument(appContainer(w)));
}

function configOf(overlay: Overlay, w: Workload): Config {
  const env = containerEnv(appContainer(w), overlay.objects(), (name) => {
    const data = overlay.external[name];
    if (!data) throw new Error(`${w.name} refers to Secret ${name}, which is neither rendered nor documented`);
    return data;
  });
  return loadConfig(env);
}

/** Non-root, read-only root filesystem, no privilege escalation or capabilities, CPU and memory bounded. */
function expectLockedDownContainer(c: Container, at: string): void {
  expect(c.securityContext?.runAsNonRoot, at).toBe(true);
  expect(c.securityContext?.readOnlyRootFilesystem, at).toBe(true);
  expect(c.securityContext?.allowPrivilegeEscalation, at).toBe(false);
  expect(c.securityContext?.capabilities?.drop, at).toEqual(['ALL']);
  for (const resource of ['cpu', 'memory']) {
    const request = c.resources?.requests?.[resource];
    const limit = c.resources?.limits?.[resource];
    expect(request && limit, `${at} ${resource} request and limit`).toBeTruthy();
    expect(quantity(limit!), `${at} ${resource} limit >= request`).toBeGreaterThanOrEqual(quantity(request!));
  }
}

/** Workloads whose pods a selector picks. */
function selected(objects: K8sObject[], selector: Labels | undefined): Workload[] {
  return workloads(objects).filter((w) => selects(selector, w.labels));
}

function serviceBackends(objects: K8sObject[], serviceName: string): Workload[] {
  const svc = named(objects, 'Service', serviceName);
  if (!svc) throw new Error(`Service ${serviceName} is not rendered`);
  return selected(objects, (svc.spec as { selector: Labels }).selector);
}

describe.each([dev, prod, site])('k8s overlay $name', (overlay) => {
  let objects: K8sObject[];
  let pods: Workload[];
  beforeAll(() => {
    objects = overlay.objects();
    pods = ticktalkPods(objects);
  });

  it('renders objects that are valid against the Kubernetes schemas', () => {
    expect(objects.length).toBeGreaterThan(10);
    expect(objects.map(schemaProblem).filter(Boolean)).toEqual([]);
  });

  it('puts everything in its namespace, which enforces the restricted Pod Security Standard', () => {
    const ns = named(objects, 'Namespace', overlay.namespace);
    expect(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const misplaced = objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== overlay.namespace);
    expect(misplaced.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
  });

  it('pins every image, and runs the ticktalk version in package.json', () => {
    for (const w of workloads(objects)) {
      for (const c of allContainers(w.pod)) {
        const pinned = /@sha256:[0-9a-f]{64}$/.test(c.image) || /:[^/:@]+$/.test(c.image);
        expect(pinned && !c.image.endsWith(':latest'), `${w.name}/${c.name}: ${c.image}`).toBe(true);
      }
    }
    for (const w of pods) expect(appContainer(w).image).toMatch(new RegExp(`:${packageVersion.replace(/\./g, '\\.')}$`));
  });

  it('runs every container as non-root on a read-only root filesystem, with requests and limits', () => {
    for (const w of workloads(objects)) {
      const where = `${w.kind}/${w.name}`;
      expect(w.pod.securityContext?.runAsNonRoot, where).toBe(true);
      expect(w.pod.securityContext?.seccompProfile?.type, where).toBe('RuntimeDefault');
      expect(w.pod.automountServiceAccountToken, where).toBe(false);
      // Service links would inject variables (e.g. MQTT_PORT=tcp://...) that collide with config.
      expect(w.pod.enableServiceLinks, where).toBe(false);
      for (const c of allContainers(w.pod)) expectLockedDownContainer(c, `${where}/${c.name}`);
    }
  });

  it('probes /healthz and /readyz on HTTP_PORT, is scraped by Prometheus, and writes only to volumes', () => {
    expect(pods.length).toBeGreaterThan(0);
    for (const w of pods) {
      const c = appContainer(w);
      const config = configOf(overlay, w);
      const http = c.ports?.find((p) => p.name === 'http');
      expect(http?.containerPort, w.name).toBe(config.HTTP_PORT);
      expect(c.livenessProbe?.httpGet, w.name).toEqual({ path: '/healthz', port: 'http' });
      expect(c.readinessProbe?.httpGet, w.name).toEqual({ path: '/readyz', port: 'http' });
      expect(c.startupProbe?.httpGet, w.name).toEqual({ path: '/healthz', port: 'http' });
      expect(w.annotations).toMatchObject({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(config.HTTP_PORT),
        'prometheus.io/path': '/metrics',
      });
      for (const path of ['/tmp', config.DATA_DIR]) {
        const mount = c.volumeMounts?.find((m) => m.mountPath === path);
        const volume = w.pod.volumes?.find((v) => v.name === mount?.name);
        expect(volume?.emptyDir ?? volume?.persistentVolumeClaim, `${w.name}: ${path} on a writable volume`).toBeDefined();
      }
    }
  });

  it('starts every ticktalk container with a configuration the config schema accepts', () => {
    const known = new Set(Object.keys(configVars));
    const settings = new Set(pods.flatMap((w) => (appContainer(w).envFrom ?? []).flatMap((s) => s.configMapRef?.name ?? [])));
    expect(settings.size).toBeGreaterThan(0);
    for (const cm of ofKind(objects, 'ConfigMap').filter((c) => settings.has(c.metadata.name))) {
      const keys = Object.keys(cm.data ?? {});
      expect(
        keys.filter((k) => !known.has(k)),
        `unknown settings in ${cm.metadata.name}`,
      ).toEqual([]);
      expect(
        keys.filter((k) => SECRET_VARS.includes(k)),
        `credentials in ${cm.metadata.name}`,
      ).toEqual([]);
    }
    for (const w of pods) {
      const names = (appContainer(w).env ?? []).map((v) => v.name);
      expect(
        names.filter((n) => !known.has(n)),
        w.name,
      ).toEqual([]);
      const config = configOf(overlay, w);
      for (const name of SECRET_VARS) expect(config[name as keyof Config], `${w.name}: ${name}`).toBeDefined();
      expect(config.NODE_ID).toBe('pod-name-0');
    }
  });

  it('lets every pod finish its shutdown: preStop + SHUTDOWN_DRAIN_S + margin < terminationGracePeriodSeconds', () => {
    for (const w of pods) {
      const grace = w.pod.terminationGracePeriodSeconds ?? 30;
      const budget = preStopSeconds(appContainer(w)) + configOf(overlay, w).SHUTDOWN_DRAIN_S + MIN_SHUTDOWN_MARGIN_S;
      expect(budget, `${w.name}: grace ${grace} s`).toBeLessThan(grace);
      // The sleep is what lets endpoints and load balancers drop the pod before it stops accepting.
      expect(preStopSeconds(appContainer(w)), w.name).toBeGreaterThanOrEqual(5);
    }
  });

  it('labels each pod with exactly the roles it runs, and runs every role', () => {
    for (const w of pods) {
      const labelled = Object.keys(w.labels)
        .filter((k) => k.startsWith('roles.ticktalk.io/') && w.labels[k] === 'true')
        .map((k) => k.slice('roles.ticktalk.io/'.length));
      expect(labelled.sort(), w.name).toEqual([...rolesOf(w)].sort());
    }
    expect([...new Set(pods.flatMap(rolesOf))].sort()).toEqual([...ROLE_NAMES].sort());
  });

  it('has Services, PDBs, HPAs and spread constraints select the pods they are meant for', () => {
    const all = workloads(objects);
    for (const w of all) {
      expect(selects(w.selector, w.labels), `${w.name} selects its own pods`).toBe(true);
      const others = all.filter((o) => o !== w && selects(w.selector, o.labels));
      expect(
        others.map((o) => o.name),
        `${w.name} selector overlaps`,
      ).toEqual([]);
      for (const spread of w.pod.topologySpreadConstraints ?? []) {
        expect(selected(objects, spread.labelSelector?.matchLabels), `${w.name} ${spread.topologyKey}`).toEqual([w]);
      }
    }
    for (const svc of ofKind(objects, 'Service')) {
      const spec = svc.spec as { selector: Labels; ports: { port: number; targetPort: string | number }[] };
      const backends = selected(objects, spec.selector);
      expect(backends.length, `Service ${svc.metadata.name} has pods`).toBeGreaterThan(0);
      for (const port of spec.ports) {
        for (const b of backends) {
          const ports = allContainers(b.pod).flatMap((c) => c.ports ?? []);
          const found = ports.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort);
          expect(found, `Service ${svc.metadata.name}:${port.port} -> ${b.name}:${port.targetPort}`).toBe(true);
        }
      }
    }
    const pdbs = ofKind(objects, 'PodDisruptionBudget');
    for (const w of pods.filter((p) => p.kind === 'Deployment')) {
      // Kubernetes refuses to evict a pod that two budgets cover.
      const covering = pdbs.filter((p) => selects((p.spec as { selector: { matchLabels: Labels } }).selector.matchLabels, w.labels));
      expect(covering.length, `${w.name} PodDisruptionBudgets`).toBe(1);
      expect((covering[0].spec as { maxUnavailable?: number }).maxUnavailable, w.name).toBe(1);
    }
    for (const hpa of ofKind(objects, 'HorizontalPodAutoscaler')) {
      const ref = (hpa.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef;
      const target = all.find((w) => w.kind === ref.kind && w.name === ref.name);
      expect(target, `HPA ${hpa.metadata.name} target`).toBeDefined();
      // A replicas field would reset the HPA's count on every apply.
      expect(target!.replicas, `${ref.name} replicas owned by the HPA`).toBeUndefined();
    }
  });

  it('reaches the brokers with MQTT over a TCP load balancer and over WebSocket at /mqtt', () => {
    const runs = (role: RoleName) => (w: Workload) => w.labels['app.kubernetes.io/name'] === 'ticktalk' && rolesOf(w).includes(role);
    const brokers = pods.filter(runs('broker'));
    const lb = ofKind(objects, 'Service').filter((s) => (s.spec as { type?: string }).type === 'LoadBalancer');
    expect(lb.map((s) => s.metadata.name)).toEqual(['ticktalk-mqtt']);
    const lbSpec = lb[0].spec as { externalTrafficPolicy: string; ports: { port: number }[] };
    expect(lbSpec.ports.map((p) => p.port)).toEqual([1883]);
    // Local keeps client addresses for the per-address connect limit.
    expect(lbSpec.externalTrafficPolicy).toBe('Local');
    expect(serviceBackends(objects, 'ticktalk-mqtt')).toEqual(brokers);

    const ingress = named(objects, 'Ingress', 'ticktalk')!;
    const spec = ingress.spec as {
      rules: { http: { paths: { path: string; pathType: string; backend: { service: { name: string } } }[] } }[];
    };
    const backendOf = (path: string) => {
      const found = spec.rules[0].http.paths.find((p) => p.path === path);
      expect(found?.pathType, path).toBe('Prefix');
      return serviceBackends(objects, found!.backend.service.name);
    };
    expect(backendOf('/mqtt')).toEqual(brokers);
    const web = backendOf('/');
    expect(web.length).toBeGreaterThan(0);
    expect(web.every(runs('web'))).toBe(true);
    // The proxy must not cut an idle WebSocket before the longest MQTT keepalive allows.
    const keepalive = configOf(overlay, brokers[0]).MQTT_MAX_KEEPALIVE_S;
    const annotations = ingress.metadata.annotations ?? {};
    for (const key of ['nginx.ingress.kubernetes.io/proxy-read-timeout', 'nginx.ingress.kubernetes.io/proxy-send-timeout']) {
      expect(Number(annotations[key]), key).toBeGreaterThan(keepalive * 1.5);
    }
  });

  it('denies all traffic by default and opens only what each role needs', () => {
    const deny = named(objects, 'NetworkPolicy', 'default-deny');
    expect(deny?.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    for (const w of pods) {
      const roles = rolesOf(w);
      const egress = policyRules(objects, w.labels, 'egress');
      const ingress = policyRules(objects, w.labels, 'ingress');
      expect(egress.isolated && ingress.isolated, w.name).toBe(true);
      const needEgress = new Set([...DNS, ...roles.flatMap((r) => NEEDS[r].egress)]);
      const needIngress = new Set(roles.flatMap((r) => NEEDS[r].ingress));
      expect([...allowedPorts(egress.rules)].sort(), `${w.name} egress`).toEqual([...needEgress].sort());
      expect([...allowedPorts(ingress.rules)].sort(), `${w.name} ingress`).toEqual([...needIngress].sort());
      if (!roles.some((r) => PUBLIC_ROLES.includes(r))) {
        const open = ingress.rules.filter((r) => r.peers.length === 0 || r.peers.some((p) => p.ipBlock));
        expect(
          open.map((r) => r.policy),
          `${w.name} reachable from outside the cluster`,
        ).toEqual([]);
      }
    }
  });

  it('keeps credentials in Secrets: AUTH_JWT_SECRET and the three URLs', () => {
    const rendered = new Set(ofKind(objects, 'Secret').map((s) => s.metadata.name));
    const tls = ((named(objects, 'Ingress', 'ticktalk')!.spec as { tls?: { secretName: string }[] }).tls ?? []).map((t) => t.secretName);
    const referenced = new Set([...workloads(objects).flatMap((w) => referencedSecrets(w.pod)), ...tls]);
    const missing = [...referenced].filter((name) => !rendered.has(name));
    expect(missing.sort()).toEqual(Object.keys(overlay.external).sort());
    for (const w of pods) {
      const sources =
        appContainer(w)
          .envFrom?.map((s) => s.secretRef?.name)
          .filter(Boolean) ?? [];
      expect(sources.length, w.name).toBe(1);
      const secret = named(objects, 'Secret', sources[0]!);
      const keys = secret
        ? Object.keys({ ...(secret.data as object), ...(secret.stringData as object) })
        : Object.keys(overlay.external[sources[0]!]);
      expect(keys.sort(), `${w.name}: keys of ${sources[0]}`).toEqual([...SECRET_VARS].sort());
    }
  });
});

describe('k8s overlay dev', () => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = dev.objects();
  });

  it('runs every role in one pod', () => {
    const pods = ticktalkPods(objects);
    expect(pods.map((w) => [w.kind, w.replicas, rolesOf(w).sort()])).toEqual([['Deployment', 1, [...ROLE_NAMES].sort()]]);
  });

  it('points the app at in-cluster Redis, PostgreSQL and RabbitMQ StatefulSets on persistent volumes', () => {
    const config = configOf(dev, ticktalkPods(objects)[0]);
    const infra = [
      { url: config.REDIS_URL!, name: 'redis', password: undefined },
      { url: config.DATABASE_URL!, name: 'postgres', password: 'POSTGRES_PASSWORD' },
      { url: config.AMQP_URL!, name: 'rabbitmq', password: 'RABBITMQ_DEFAULT_PASS' },
    ];
    const credentials = named(objects, 'Secret', ofKind(objects, 'Secret').find((s) => s.metadata.name.startsWith('dev-infra'))!.metadata.name)!;
    for (const { url, name, password } of infra) {
      const parsed = new URL(url);
      expect(parsed.hostname, url).toBe(name);
      const svc = named(objects, 'Service', name)!;
      expect(
        (svc.spec as { ports: { port: number }[] }).ports.map((p) => p.port),
        name,
      ).toContain(Number(parsed.port));
      const [set] = serviceBackends(objects, name);
      expect(set?.kind, name).toBe('StatefulSet');
      expect(set.replicas, name).toBe(1);
      expect(set.claimTemplates, name).toEqual(['data']);
      expect(
        set.pod.containers[0].volumeMounts?.map((m) => m.name),
        name,
      ).toContain('data');
      if (password) {
        const data = Object.fromEntries(
          Object.entries(credentials.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
        );
        expect(decodeURIComponent(parsed.password), `${name} password matches its server`).toBe(data[password]);
      }
    }
  });

  it('lets only ticktalk pods reach the in-cluster servers', () => {
    const ticktalk = ticktalkPods(objects)[0];
    for (const w of workloads(objects).filter((x) => x.kind === 'StatefulSet')) {
      const { isolated, rules } = policyRules(objects, w.labels, 'ingress');
      expect(isolated, w.name).toBe(true);
      expect(rules.length, w.name).toBeGreaterThan(0);
      for (const rule of rules) {
        expect(rule.peers.length, `${w.name} ${rule.policy}`).toBeGreaterThan(0);
        for (const peer of rule.peers) {
          expect(peer.namespaceSelector ?? peer.ipBlock, `${w.name}: same namespace only`).toBeUndefined();
          expect(selected(objects, peer.podSelector?.matchLabels), `${w.name} peers`).toEqual([ticktalk]);
        }
      }
      expect(
        policyRules(objects, w.labels, 'egress')
          .rules.flatMap((r) => r.ports)
          .sort(),
        w.name,
      ).toEqual([...DNS].sort());
    }
  });
});

describe.each([prod, site])('k8s overlay $name (prod)', (overlay) => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = overlay.objects();
  });
  it('runs a Deployment per role, at least two pods each (the aggregator exactly one), brokers and web autoscaled on CPU', () => {
    const pods = ticktalkPods(objects);
    expect(pods.map((w) => [w.kind, rolesOf(w)]).sort()).toEqual(ROLE_NAMES.map((r) => ['Deployment', [r]]).sort());
    const hpas = ofKind(objects, 'HorizontalPodAutoscaler').map(
      (h) =>
        h.spec as {
          scaleTargetRef: { name: string };
          minReplicas: number;
          metrics: { type: string; resource?: { name: string } }[];
        },
    );
    for (const w of pods) {
      const hpa = hpas.find((h) => h.scaleTargetRef.name === w.name);
      if (rolesOf(w)[0] === 'ohlcv') {
        // One stream reader: a second would publish its own forming bar and the retained candle could step back.
        expect([hpa, w.replicas, (w.object.spec as { strategy?: { type?: string } }).strategy?.type], w.name).toEqual([undefined, 1, 'Recreate']);
        continue;
      }
      expect(hpa?.minReplicas ?? w.replicas, w.name).toBeGreaterThanOrEqual(2);
      if (['broker', 'web'].includes(rolesOf(w)[0])) {
        expect(
          hpa?.metrics.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu'),
          w.name,
        ).toBe(true);
      }
    }
  });

  it('is scraped by a ServiceMonitor on /metrics at the HTTP port of every ticktalk pod, once, labelled with its role', () => {
    const monitors = ofKind(objects, 'ServiceMonitor') as unknown as ServiceMonitor[];
    expect(monitors.length).toBe(1);
    const { selector, endpoints } = monitors[0].spec;
    const scraped: string[] = [];
    for (const svc of ofKind(objects, 'Service').filter((s) => selects(selector.matchLabels, s.metadata.labels ?? {}))) {
      const spec = svc.spec as { selector: Labels; ports: { name: string; targetPort: string | number }[] };
      for (const endpoint of endpoints) {
        expect(endpoint.path, svc.metadata.name).toBe('/metrics');
        const port = spec.ports.find((p) => p.name === endpoint.port);
        for (const w of selected(objects, spec.selector)) {
          const http = appContainer(w).ports?.find((p) => p.name === port?.targetPort || p.containerPort === port?.targetPort);
          expect(http?.containerPort, `${svc.metadata.name}:${endpoint.port} -> ${w.name}`).toBe(configOf(overlay, w).HTTP_PORT);
          scraped.push(w.name);
        }
      }
    }
    expect(scraped.sort()).toEqual(
      ticktalkPods(objects)
        .map((w) => w.name)
        .sort(),
    );
    const roleLabel = endpoints[0].relabelings?.find((r) => r.targetLabel === 'role');
    expect(roleLabel?.sourceLabels).toEqual(['__meta_kubernetes_pod_label_app_kubernetes_io_component']);
    for (const w of ticktalkPods(objects)) expect(w.labels['app.kubernetes.io/component'], w.name).toBe(rolesOf(w)[0]);
  });

  it('ships the alert rules for the scraped job, and the dashboard as a ConfigMap for Grafana', () => {
    const [rule] = ofKind(objects, 'PrometheusRule') as unknown as PrometheusRule[];
    const exprs = rule.spec.groups.flatMap((g) => g.rules).map((r) => String(r.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(5);
    // Prometheus names a ServiceMonitor's job after the Service it scrapes.
    const [monitor] = ofKind(objects, 'ServiceMonitor') as unknown as ServiceMonitor[];
    const scrapedServices = ofKind(objects, 'Service')
      .filter((s) => selects(monitor.spec.selector.matchLabels, s.metadata.labels ?? {}))
      .map((s) => s.metadata.name);
    const jobs = exprs.flatMap((e) => [...e.matchAll(/\bjob="([^"]*)"/g)].map((m) => m[1]));
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) expect(scrapedServices, `job="${job}"`).toContain(job);
    const dashboards = ofKind(objects, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
    expect(dashboards.map((c) => Object.keys(c.data as object))).toEqual([['ticktalk.json']]);
    const file = readFileSync(join(k8sDir, 'components/monitoring/grafana-dashboard.json'), 'utf8');
    expect(JSON.parse((dashboards[0].data as Record<string, string>)['ticktalk.json'])).toEqual(JSON.parse(file));
  });

  it('renders no Secret: the operator creates them', () => {
    expect(ofKind(objects, 'Secret')).toEqual([]);
  });

  it('serves the Ingress over TLS for the host it routes', () => {
    const spec = named(objects, 'Ingress', 'ticktalk')!.spec as { rules: { host: string }[]; tls: { hosts: string[] }[] };
    expect(spec.tls.flatMap((t) => t.hosts)).toEqual(spec.rules.map((r) => r.host));
  });
});

describe('k8s README site overlay', () => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = site.objects();
  });

  it('sets its own host and registry and scales brokers on connections too', () => {
    const ingress = named(objects, 'Ingress', 'ticktalk')!.spec as { rules: { host: string }[] };
    expect(ingress.rules[0].host).not.toBe('ticktalk.example.com');
    expect(ticktalkPods(objects).every((w) => !appContainer(w).image.startsWith('registry.example.com/'))).toBe(true);
    const hpa = named(objects, 'HorizontalPodAutoscaler', 'ticktalk-broker')!.spec as {
      metrics: { type: string; pods?: { metric: { name: string } } }[];
    };
    expect(hpa.metrics.map((m) => m.pods?.metric.name ?? m.type)).toEqual(['Resource', 'ticktalk_mqtt_connections']);
  });
});
