import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { ZodType } from 'zod';
import type { K8sObject } from './render.js';
import { prometheusRuleSchema, serviceMonitorSchema } from './monitoring-schema.js';

interface Validatable {
  validate(): void;
}

/** Every apiVersion/kind the manifests may use; anything else is an error, not a silent pass. */
const models: Record<string, new (data: never) => Validatable> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/** Custom resources kubernetes-models has no model for, checked against their CRD schemas instead. */
const customResources: Record<string, ZodType> = {
  'monitoring.coreos.com/v1/ServiceMonitor': serviceMonitorSchema,
  'monitoring.coreos.com/v1/PrometheusRule': prometheusRuleSchema,
};

/**
 * kustomize wraps long base64 Secret values over several lines; the API server's base64 decoding
 * skips line breaks, the schema's "byte" format does not.
 */
function asApiServerReads(obj: K8sObject): K8sObject {
  if (obj.kind !== 'Secret' || !obj.data) return obj;
  const data = Object.entries(obj.data as Record<string, string>).map(([k, v]) => [k, v.replace(/[\r\n]/g, '')]);
  return { ...obj, data: Object.fromEntries(data) };
}

/**
 * Checks an object against the Kubernetes OpenAPI schema (types, required fields, enums) through
 * kubernetes-models, or a custom resource against its CRD's. Returns the problem, or undefined
 * when the object is valid.
 */
export function schemaProblem(obj: K8sObject): string | undefined {
  const id = `${obj.kind}/${obj.metadata.name}`;
  const custom = customResources[`${obj.apiVersion}/${obj.kind}`];
  if (custom) {
    const result = custom.safeParse(obj);
    return result.success ? undefined : `${id}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
  }
  const Model = models[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return `${id}: ${obj.apiVersion} ${obj.kind} is not a kind these manifests are checked for`;
  try {
    new Model(asApiServerReads(obj) as never).validate();
    return undefined;
  } catch (err) {
    return `${id}: ${(err as Error).message}`;
  }
}
