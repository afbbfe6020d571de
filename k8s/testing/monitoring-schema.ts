import { z } from 'zod';

/**
 * The Prometheus Operator's ServiceMonitor and PrometheusRule (monitoring.coreos.com/v1), for the
 * fields these manifests use, following the operator's CRD schemas (patterns and enums copied from
 * them). kubernetes-models has no models for them; unlike its models, these reject unknown fields,
 * so a misspelt key fails instead of being ignored by the operator. A field the CRD has and this
 * does not is added here when the manifests start to use it.
 */

const DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RELABEL_ACTIONS = [
  'replace',
  'keep',
  'drop',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
  'keepequal',
  'dropequal',
];

const duration = z.string().regex(DURATION, 'a Prometheus duration such as 30s or 5m');
const labels = z.record(z.string(), z.string());

const metadata = z.strictObject({
  name: z.string().max(253).regex(DNS_SUBDOMAIN),
  namespace: z.string().optional(),
  labels: labels.optional(),
  annotations: labels.optional(),
});

const relabeling = z.strictObject({
  sourceLabels: z.array(z.string().regex(LABEL_NAME)).optional(),
  separator: z.string().optional(),
  targetLabel: z.string().optional(),
  regex: z.string().optional(),
  replacement: z.string().optional(),
  modulus: z.number().int().optional(),
  action: z
    .string()
    .refine((a) => RELABEL_ACTIONS.includes(a.toLowerCase()), 'a relabeling action')
    .optional(),
});

const endpoint = z.strictObject({
  port: z.string().optional(),
  targetPort: z.union([z.string(), z.number().int()]).optional(),
  path: z.string().startsWith('/').optional(),
  scheme: z.enum(['http', 'https', 'HTTP', 'HTTPS']).optional(),
  interval: duration.optional(),
  scrapeTimeout: duration.optional(),
  honorLabels: z.boolean().optional(),
  relabelings: z.array(relabeling).optional(),
  metricRelabelings: z.array(relabeling).optional(),
});

const labelSelector = z.strictObject({
  matchLabels: labels.optional(),
  matchExpressions: z
    .array(z.strictObject({ key: z.string(), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).optional() }))
    .optional(),
});

export const serviceMonitorSchema = z.strictObject({
  apiVersion: z.literal('monitoring.coreos.com/v1'),
  kind: z.literal('ServiceMonitor'),
  metadata,
  spec: z.strictObject({
    selector: labelSelector,
    namespaceSelector: z.strictObject({ any: z.boolean().optional(), matchNames: z.array(z.string()).optional() }).optional(),
    endpoints: z.array(endpoint).min(1),
    jobLabel: z.string().optional(),
    targetLabels: z.array(z.string()).optional(),
    podTargetLabels: z.array(z.string()).optional(),
  }),
});

const rule = z
  .strictObject({
    alert: z.string().min(1).optional(),
    record: z.string().min(1).optional(),
    expr: z.union([z.string().min(1), z.number().int()]),
    for: duration.optional(),
    keep_firing_for: duration.optional(),
    labels: labels.optional(),
    annotations: labels.optional(),
  })
  .refine((r) => (r.alert === undefined) !== (r.record === undefined), 'a rule has exactly one of alert and record')
  .refine((r) => r.alert !== undefined || (r.for === undefined && r.annotations === undefined), 'for and annotations belong to alerts');

export const prometheusRuleSchema = z.strictObject({
  apiVersion: z.literal('monitoring.coreos.com/v1'),
  kind: z.literal('PrometheusRule'),
  metadata,
  spec: z.strictObject({
    groups: z
      .array(z.strictObject({ name: z.string().min(1), interval: duration.optional(), rules: z.array(rule) }))
      .refine((groups) => new Set(groups.map((g) => g.name)).size === groups.length, 'group names are unique'),
  }),
});

/** What the alert rules carry: the value of every rule of every group, typed. */
export type PrometheusRule = z.infer<typeof prometheusRuleSchema>;
export type ServiceMonitor = z.infer<typeof serviceMonitorSchema>;
