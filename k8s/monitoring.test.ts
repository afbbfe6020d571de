import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ROLE_NAMES } from '../cli/app.js';
import { startTestApp, type TestApp } from '../test/testing/app.js';
import { prometheusRuleSchema, type PrometheusRule } from './testing/monitoring-schema.js';
import { baseMetricName, metricNames } from './testing/promql.js';

/** Series Prometheus records itself for every target it scrapes, not read from /metrics. */
const SCRAPE_SERIES = ['up'];
const SEVERITIES = ['critical', 'warning', 'info'];
const MIN_PANELS = 8;
const MIN_ALERTS = 5;
/** Every role on the embedded database: opening it takes most of a minute on a loaded 2-core machine. */
const STARTUP_TIMEOUT_MS = 180_000;

const k8sDir = dirname(fileURLToPath(import.meta.url));
const monitoringDir = join(k8sDir, 'components/monitoring');
const readme = readFileSync(join(k8sDir, 'README.md'), 'utf8');

interface Target {
  expr: string;
  datasource?: { uid?: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

const dashboard = JSON.parse(readFileSync(join(monitoringDir, 'grafana-dashboard.json'), 'utf8')) as Dashboard;
const rules: PrometheusRule = prometheusRuleSchema.parse(parse(readFileSync(join(monitoringDir, 'prometheusrule.yaml'), 'utf8')));
const alerts = rules.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);

/** Panels in rows included; rows themselves left out. */
function graphPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => (p.type === 'row' ? graphPanels(p.panels ?? []) : [p]));
}

/** Every PromQL expression the dashboard runs: panel queries and the metric of each `label_values(...)` variable. */
function dashboardQueries(): string[] {
  const panelQueries = graphPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const variableQueries = dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => {
      const query = typeof v.query === 'string' ? v.query : v.query.query;
      const selector = /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1];
      if (!selector) throw new Error(`variable ${v.name}: expected label_values(<selector>, <label>), got ${query}`);
      return selector;
    });
  return [...panelQueries, ...variableQueries];
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function readmeAnchors(): Set<string> {
  const headings = [...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]);
  return new Set(
    headings.map((h) =>
      h
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('Grafana dashboard and alert rules', () => {
  it(`has at least ${MIN_PANELS} panels, each on the datasource variable with a unit`, () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const panels = graphPanels(dashboard.panels);
    expect(panels.length).toBeGreaterThanOrEqual(MIN_PANELS);
    expect(new Set(panels.map((p) => p.title)).size, 'titles are unique').toBe(panels.length);
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.fieldConfig?.defaults?.unit, p.title).toBeTruthy();
    }
  });

  it(`has at least ${MIN_ALERTS} alerts, each with a severity, a summary and a runbook section in k8s/README.md`, () => {
    expect(alerts.length).toBeGreaterThanOrEqual(MIN_ALERTS);
    expect(new Set(alerts.map((a) => a.alert)).size, 'alert names are unique').toBe(alerts.length);
    const anchors = readmeAnchors();
    for (const a of alerts) {
      expect(SEVERITIES, `${a.alert} severity`).toContain(a.labels?.severity);
      expect(a.annotations?.summary, `${a.alert} summary`).toBeTruthy();
      const anchor = /\/k8s\/README\.md#([\w-]+)$/.exec(a.annotations?.runbook_url ?? '')?.[1];
      expect(anchor, `${a.alert} runbook_url ${a.annotations?.runbook_url}`).toBe(a.alert!.toLowerCase());
      expect(anchors.has(anchor!), `k8s/README.md has a "${a.alert}" section`).toBe(true);
    }
  });

  describe('against the metrics a running ticktalk exports', () => {
    let app: TestApp;
    let exported: Set<string>;
    let body: string;
    beforeAll(async () => {
      app = await startTestApp({}, [...ROLE_NAMES]);
      body = await (await fetch(`${app.httpUrl}/metrics`)).text();
      exported = new Set([...body.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]));
    }, STARTUP_TIMEOUT_MS);
    afterAll(async () => {
      await app?.stop();
    });

    it('exports every metric the dashboard and the alert rules query', () => {
      const queried = new Map<string, string>();
      for (const expr of [...dashboardQueries(), ...alerts.map((a) => String(a.expr))]) {
        for (const name of metricNames(expr)) queried.set(baseMetricName(name), expr);
      }
      expect(queried.size).toBeGreaterThan(10);
      const missing = [...queried]
        .filter(([name]) => !exported.has(name) && !SCRAPE_SERIES.includes(name))
        .map(([name, expr]) => `${name} (in ${expr})`);
      expect(missing).toEqual([]);
    });

    it('reports each readiness check and the memory limit', () => {
      expect(body).toMatch(/^ticktalk_readiness_check\{check="database"\} 1$/m);
      expect(body).toMatch(/^ticktalk_readiness_check\{check="mqtt"\} 1$/m);
      expect(body).toMatch(/^ticktalk_process_memory_limit_bytes \d+$/m);
    });
  });
});
