// Firing OpenWhisk triggers: in the cloud through the REST API (POST /namespaces/{ns}/triggers/{name},
// as apache/openwhisk's controller answers it: 202 {activationId}, 204 when no rule is active, 404 for
// an unknown trigger), or locally from a wskdeploy manifest, where firing runs the actions its rules
// name through the same local engine and pools as the action nodes.
import { randomBytes } from 'node:crypto';
import type { ManifestCatalog, ManifestTrigger } from './catalog/manifest';
import { OpenWhiskNodeError } from './errors';
import { ENTITY_NAME_RULE, parseName } from './names';
import { checkNamespace } from './params';
import { ActionRunner, type PhaseReport, type RunnerTarget } from './runner';
import { apiFailure, NoAnswer, formatSeconds, type OpenWhiskService } from './service';
import type { ActionRef, Activation } from './types';

export interface TriggerRef {
  namespace: string;
  name: string;
}

/** What one firing gives the flow. */
export interface Firing {
  /** The trigger activation's id; absent when no rule was active (OpenWhisk answers 204, records nothing). */
  activationId?: string;
  /** Local mode: the trigger activation record (its logs list each rule's activation as OpenWhisk writes them). */
  trigger?: Activation;
  /** Local mode: the activations of the rules' actions, one per rule (annotated with the rule). */
  activations?: Activation[];
  where: 'cloud' | 'local';
}

/** "name" or "/ns/name" (a trigger is not in a package); the node's namespace, then msg's, then "_". */
export function parseTriggerName(name: string, namespace = ''): TriggerRef {
  const text = (name ?? '').trim();
  const parsed = parseName(text);
  if (parsed?.namespace !== undefined && !parsed.name.includes('/')) return { namespace: parsed.namespace, name: parsed.name };
  if (parsed && parsed.namespace === undefined && !parsed.name.includes('/')) return { namespace: checkNamespace(namespace, 'bad trigger'), name: parsed.name };
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  throw new OpenWhiskNodeError(
    'config',
    `'${shown}' is not a trigger name: triggers are "name" or "/namespace/name" (they are never in a package), where ${ENTITY_NAME_RULE}.`,
    { short: 'bad trigger' },
  );
}

const fqn = (ref: TriggerRef) => `/${ref.namespace || '_'}/${ref.name}`;

/** Fires a trigger through the OpenWhisk API with `params` as its payload. */
export async function fireInCloud(service: OpenWhiskService, ref: TriggerRef, params: Record<string, unknown>): Promise<Firing> {
  let reply: { activationId?: string };
  try {
    reply = await service.bounded(service.requestMs, (b) => service.rest.fireTrigger(ref.namespace || '_', ref.name, params, b));
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 404) {
      throw new OpenWhiskNodeError(
        'http',
        `Trigger '${fqn(ref)}' was not found on ${service.host} (404). Check the trigger name and the namespace (create it with "wsk trigger create ${ref.name}").`,
        {
          short: 'not found',
          statusCode: 404,
          cause: err,
        },
      );
    }
    if (err instanceof NoAnswer) {
      throw new OpenWhiskNodeError(
        'timeout',
        `The OpenWhisk API at ${service.host} did not answer the firing of trigger '${fqn(ref)}' within ${formatSeconds(err.ms)}: the trigger may or may not have fired.`,
        { short: 'no answer', cause: err },
      );
    }
    throw apiFailure(err, `trigger '${fqn(ref)}'`, service.host);
  }
  return reply.activationId ? { activationId: reply.activationId, where: 'cloud' } : { where: 'cloud' };
}

/** At deploy: GET the trigger (a bounded lookup), so that a missing trigger or a wrong key shows at once. */
export async function checkCloudTrigger(service: OpenWhiskService, ref: TriggerRef): Promise<void> {
  try {
    await service.bounded(service.requestMs, (b) => service.rest.getTrigger(ref.namespace || '_', ref.name, b));
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) {
      throw new OpenWhiskNodeError('http', `Trigger '${fqn(ref)}' was not found on ${service.host} (404). Check the trigger name and the namespace.`, {
        short: 'not found',
        statusCode: 404,
        cause: err,
      });
    }
    throw apiFailure(err, `trigger '${fqn(ref)}'`, service.host);
  }
}

/** OpenWhisk's ActivationResponse status codes, as a trigger activation's logs carry them. */
const STATUS_CODE: Record<string, number> = { application_error: 1, developer_error: 2 };

/**
 * The triggers of a local runtime whose catalog is a manifest: firing one runs the action of each of
 * its rules, each through an ActionRunner of its own (containers provisioned at deploy and kept warm).
 */
export class LocalTriggers {
  private readonly runners = new Map<string, ActionRunner>();
  private closed = false;

  constructor(
    private readonly nodeId: string,
    private readonly manifest: ManifestCatalog,
    private readonly target: Extract<RunnerTarget, { mode: 'local' }>,
    private readonly onProblem: (r: PhaseReport) => void = () => undefined,
  ) {}

  /** The manifest's path, for messages. */
  get location(): string {
    return this.manifest.location;
  }

  /** At deploy: the trigger exists and its rules' actions are provisioned. Resolves with the trigger. */
  async start(name: string): Promise<ManifestTrigger> {
    const trigger = await this.manifest.getTrigger(name);
    const failures = await Promise.all(trigger.rules.map((r) => this.runner(r.action).start()));
    const failed = failures.find((f) => f);
    if (failed) throw failed;
    return trigger;
  }

  private ref(action: string): ActionRef {
    return { namespace: this.manifest.namespace, name: action };
  }

  private runner(action: string): ActionRunner {
    let r = this.runners.get(action);
    if (!r) {
      r = new ActionRunner(this.nodeId, this.target, this.ref(action), (rep) => {
        if (rep.phase === 'error') this.onProblem(rep);
      });
      this.runners.set(action, r);
    }
    return r;
  }

  /**
   * Fires the trigger: the trigger's parameters with `params` merged over them go to every rule's
   * action, all at once; resolves when all have finished. A rule whose action could not be run
   * (not found, queue full, Docker down) is recorded in the trigger activation's logs with its error,
   * as OpenWhisk records it; the firing itself succeeds.
   */
  async fire(name: string, params: Record<string, unknown>): Promise<Firing> {
    if (this.closed) throw new OpenWhiskNodeError('config', 'The node is closing.', { short: 'closed' });
    const trigger = await this.manifest.getTrigger(name);
    if (trigger.rules.length === 0) return { where: 'local' };
    const ns = trigger.namespace;
    const args: Record<string, unknown> = {};
    for (const p of trigger.parameters) args[p.key] = p.value;
    Object.assign(args, params);
    const start = Date.now();
    const activationId = randomBytes(16).toString('hex');
    const results = await Promise.all(
      trigger.rules.map(async (rule) => {
        const ids = { rule: `${ns}/${rule.name}`, action: `${ns}/${rule.action.replace(/^\/[^/]+\//, '')}` };
        try {
          const a = await this.runner(rule.action).invoke({ ...args }, this.ref(rule.action));
          return { log: { statusCode: 0, success: true, activationId: a.activationId, ...ids }, activation: withRule(a, ids.rule, activationId) };
        } catch (err) {
          const e = err as OpenWhiskNodeError;
          if (e.activation) {
            // The action ran and failed: its invocation was accepted, its own activation says how it failed.
            return {
              log: { statusCode: 0, success: true, activationId: e.activation.activationId, ...ids },
              activation: withRule(e.activation, ids.rule, activationId),
            };
          }
          return { log: { statusCode: STATUS_CODE[e.code] ?? 3, success: false, error: e.message, ...ids } };
        }
      }),
    );
    const end = Date.now();
    const record: Activation = {
      activationId,
      namespace: ns,
      name: trigger.name,
      subject: ns,
      version: '0.0.1',
      publish: false,
      start,
      end,
      duration: end - start,
      response: { status: 'success', success: true, result: { ...params } },
      logs: results.map((r) => JSON.stringify(r.log)),
      annotations: [{ key: 'where', value: 'local' }],
    };
    return {
      activationId,
      trigger: record,
      activations: results.flatMap((r) => (r.activation ? [r.activation] : [])),
      where: 'local',
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const runners = [...this.runners.values()];
    this.runners.clear();
    await Promise.all(runners.map((r) => r.close()));
  }
}

/** A rule's action activation, annotated with its rule, with the trigger activation's id as its `cause`. */
function withRule(a: Activation, rule: string, cause: string): Activation {
  return { ...a, cause, annotations: [...(a.annotations ?? []), { key: 'rule', value: rule }] };
}
