import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { LogLines } from '../lib/activations/log-lines';
import { annotation } from '../lib/activations/row';
import { InlineCatalog } from '../lib/catalog/inline';
import { CONTEXT_FIELD, contextParam, parseContextKeys, takeUpdates, type ContextKey, type ContextUpdate } from '../lib/context';
import { deployInline } from '../lib/deploy';
import { OpenWhiskNodeError } from '../lib/errors';
import { inlineDoc, inlineRef, inlineSpec, type InlineConfig, type InlineSpec } from '../lib/inline';
import { checkNamespace, invocationParams, paramsObject, parseActionName, type ParamItem } from '../lib/params';
import { ActionRunner, type PhaseReport, type RunnerOptions, type RunnerTarget } from '../lib/runner';
import type { OpenWhiskService } from '../lib/service';
import type { ActionRef, Activation } from '../lib/types';
import { refuseMessages, ringText, type RuntimeNode, type ServiceNode, usableService } from './shared';

interface ActionDef extends NodeDef {
  runtime?: string;
  /** Legacy (node-red-node-openwhisk): a service and no runtime runs in cloud mode. */
  service?: string;
  namespace?: string;
  action?: string;
  params?: ParamItem[];
  /** Write each activation's log lines to Node-RED's log (node.log), at most 20 lines a second. */
  logs?: boolean;
  /** "catalog" (default): the action comes from the runtime's catalog; "inline": written in this node. */
  source?: string;
  /** Inline: the kind, entry point, limits (memory MB, timeout s, concurrency) and code. */
  kind?: string;
  main?: string;
  code?: string;
  memory?: unknown;
  timeout?: unknown;
  concurrency?: unknown;
  /** Inline on a local runtime: deploy the code to the runtime's OpenWhisk service too. */
  deploy?: boolean;
  /** Flow and global context keys the action reads and writes ("flow.avg, global.limit"), through `_context`. */
  context?: string;
  /** The context store of those keys ('' = the default store). */
  contextStore?: string;
  /** Legacy (node-red-node-openwhisk "Allow Edits"): deploy `func` as the action's code at every deploy. */
  edit?: boolean;
  func?: string;
}

/** An old node-red-node-openwhisk node with "Allow Edits": its code is deployed as the action (Node.js). */
function legacyInline(config: ActionDef): boolean {
  return (config.source === undefined || config.source === '') && config.edit === true && typeof config.func === 'string' && config.func.trim() !== '';
}

type ActionMsg = NodeMessageInFlow & { action?: unknown; namespace?: unknown; data?: unknown };

const MISSING_RUNTIME = 'No runtime: choose an openwhisk-runtime (or, for old flows, an openwhisk-service) in the openwhisk-action node.';

export = function (RED: NodeAPI) {
  const statusOf = (r: PhaseReport): NodeStatus => {
    const t = (key: string, vars?: Record<string, string | number>) => RED._(`openwhisk-action.status.${key}`, vars);
    const where = t(r.mode);
    switch (r.phase) {
      case 'idle':
        return { fill: 'grey', shape: 'ring', text: where };
      case 'deploying':
      case 'fetching':
      case 'pulling':
      case 'starting':
      case 'initializing':
        return { fill: 'yellow', shape: 'ring', text: t(r.phase) };
      case 'ready': {
        let text = r.detail === undefined ? `${where} · ${t('ready')}` : t('ready-containers', { count: r.detail });
        if (r.version) text += ` · v${r.version}`;
        return { fill: 'green', shape: 'dot', text: r.note ? `${text} · ${t(r.note)}` : text };
      }
      case 'invoking':
        return { fill: 'blue', shape: 'dot', text: Number(r.detail) > 1 ? t('invoking-n', { count: r.detail ?? 1 }) : t('invoking') };
      case 'error':
        return { fill: 'red', shape: 'ring', text: r.detail === undefined ? t('error') : ringText(RED._, 'openwhisk-action', String(r.detail)) };
    }
  };

  const refused = (err: unknown): NodeStatus => ({
    fill: 'red',
    shape: 'ring',
    text: err instanceof OpenWhiskNodeError ? ringText(RED._, 'openwhisk-action', err.short) : RED._('openwhisk-action.status.error'),
  });

  function OpenWhiskActionNode(this: Node, config: ActionDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const nodeParams = paramsObject(config.params);
    const configuredAction = (config.action ?? '').trim();
    const configuredNamespace = (config.namespace ?? '').trim();

    const legacy = legacyInline(config);
    let contextKeys: ContextKey[];
    try {
      contextKeys = parseContextKeys(config.context);
    } catch (err) {
      refuseMessages(node, err as OpenWhiskNodeError, refused(err));
      return;
    }
    const store = typeof config.contextStore === 'string' && config.contextStore.trim() ? config.contextStore.trim() : undefined;
    const scopeOf = (k: ContextKey) => (k.scope === 'flow' ? node.context().flow : node.context().global);
    /** The declared keys' values, through callbacks (a persistent store may read asynchronously). */
    const readContext = (): Promise<Map<ContextKey, unknown>> =>
      Promise.all(
        contextKeys.map(
          (k) =>
            new Promise<[ContextKey, unknown]>((resolve, reject) =>
              scopeOf(k).get(k.key, store as string, (err: Error | null | undefined, v: unknown) => (err ? reject(contextFailure(k, err)) : resolve([k, v]))),
            ),
        ),
      ).then((pairs) => new Map(pairs));
    const writeContext = (updates: ContextUpdate[]): Promise<unknown> =>
      Promise.all(
        updates.map(
          (u) =>
            new Promise<void>((resolve, reject) =>
              scopeOf(u).set(u.key, u.value, store as string, (err?: Error | null) => (err ? reject(contextFailure(u, err)) : resolve())),
            ),
        ),
      );
    const contextFailure = (k: ContextKey, err: Error) =>
      new OpenWhiskNodeError(
        'config',
        `The context store${store ? ` '${store}'` : ''} failed on ${k.scope}.${k.key}: ${err.message}. Check the contextStorage setting in settings.js.`,
        { short: 'context failed' },
      );
    const warnedUndeclared = new Set<string>();
    const inline = config.source === 'inline' || legacy;

    let target: RunnerTarget;
    let runtime: RuntimeNode | null = null;
    let defaultRef: ActionRef | undefined;
    let spec: InlineSpec | undefined;
    /** Inline on a local runtime: the catalog of one the engine provisions from. */
    let own: InlineCatalog | undefined;
    /** Inline: the service the code is deployed to (cloud; a local runtime when asked; an old node's service). */
    let deployTo: OpenWhiskService | undefined;
    try {
      if (inline) {
        spec = inlineSpec(legacy ? ({ kind: 'nodejs:default', code: config.func } as InlineConfig) : (config as InlineConfig));
        if (legacy) spec.parameters = Object.entries(nodeParams).map(([key, value]) => ({ key, value }));
        if (legacy && !configuredAction)
          throw new OpenWhiskNodeError(
            'config',
            'The old node deploys its code ("Allow Edits") but names no action: set the Action in the openwhisk-action node.',
            { short: 'no action' },
          );
        defaultRef = inlineRef(configuredAction, configuredNamespace, node.id);
      } else {
        defaultRef = configuredAction ? parseActionName(configuredAction, configuredNamespace) : undefined;
      }
      if (config.runtime) {
        runtime = RED.nodes.getNode(config.runtime) as RuntimeNode | null;
        if (!runtime) throw new OpenWhiskNodeError('config', MISSING_RUNTIME, { short: 'no runtime' });
        if (spec && defaultRef) {
          const ref = defaultRef;
          const doc = inlineDoc(spec, ref);
          target = runtime.target((lender) => (own = new InlineCatalog(ref, doc, lender)));
          if (target.mode === 'cloud') deployTo = target.service;
          else if (config.deploy === true) {
            try {
              deployTo = runtime.cloudService();
            } catch (err) {
              throw new OpenWhiskNodeError(
                'config',
                `"Deploy to OpenWhisk" is ticked but the runtime has no usable openwhisk-service: ${(err as Error).message}`,
                { short: 'no service' },
              );
            }
          }
        } else target = runtime.target();
      } else if (config.service) {
        const svc = RED.nodes.getNode(config.service) as ServiceNode | null;
        if (!svc) throw new OpenWhiskNodeError('config', MISSING_RUNTIME, { short: 'no service' });
        const service = usableService(svc);
        target = { mode: 'cloud', service };
        if (spec) deployTo = service;
      } else {
        throw new OpenWhiskNodeError('config', MISSING_RUNTIME, { short: 'no runtime' });
      }
    } catch (err) {
      refuseMessages(node, err as OpenWhiskNodeError, refused(err));
      return;
    }

    const opts: RunnerOptions = { quoteAction: inline };
    if (spec && deployTo && defaultRef) {
      const [svc, ref, s] = [deployTo, defaultRef, spec];
      opts.deploy = async () => {
        const d = await deployInline(svc, ref, s);
        own?.update(inlineDoc(s, ref, d.version));
        if (d.outcome !== 'unchanged') {
          node.log(
            `Deployed the inline action '/${ref.namespace}/${ref.name}' to ${svc.host}: ${d.outcome}${d.changed.length ? ` (${d.changed.join(', ')})` : ''}, version ${d.version}.`,
          );
        }
        return { version: d.version, timeoutMs: s.limits.timeout };
      };
    }

    const runner = new ActionRunner(node.id, target, defaultRef, (r) => node.status(statusOf(r)), opts);
    // A deploy-time failure shows as a red ring; its whole message (what to do) goes to the log once.
    void runner.start().then((err) => {
      if (err) node.error(err.message);
    });

    const logLines = config.logs === true ? new LogLines((line) => node.log(line)) : undefined;
    /** After each activation: its log lines (the option), and a record of a cloud one (local ones the runtime keeps itself). */
    const ran = (a: Activation | undefined, params: Record<string, unknown>) => {
      if (!a) return;
      logLines?.add(a.name, a.logs);
      const where = annotation(a, 'where');
      // A failed cloud activation has no `where` (the runner marks successes): a cloud runtime's ran there.
      if (where === 'cloud' || where === 'gateway' || (where === undefined && runtime?.mode === 'cloud')) runtime?.keepCloudActivation?.(a, node.id, params);
    };

    node.on('input', (msg: ActionMsg, send, done) => {
      let params: Record<string, unknown>;
      let ref = defaultRef;
      try {
        params = invocationParams(nodeParams, msg.payload);
        if (inline) {
          // An inline action is the node's own: msg.action and msg.namespace do not choose another.
        } else if (!configuredAction && typeof msg.action === 'string' && msg.action.trim()) {
          const ns = configuredNamespace || (typeof msg.namespace === 'string' ? msg.namespace : '');
          ref = parseActionName(msg.action, ns);
        } else if (configuredAction && typeof msg.action === 'string' && msg.action.trim() && msg.action.trim() !== configuredAction) {
          node.warn(RED._('node-red:common.errors.nooverride'));
        } else if (ref && !configuredNamespace && typeof msg.namespace === 'string' && msg.namespace.trim() && !configuredAction.startsWith('/')) {
          ref = { ...ref, namespace: checkNamespace(msg.namespace) };
        }
      } catch (err) {
        done(err as Error);
        return;
      }
      const before: Promise<unknown> = contextKeys.length
        ? readContext().then((values) => {
            params[CONTEXT_FIELD] = contextParam(contextKeys, (k) => values.get(k));
          })
        : Promise.resolve();
      before
        .then(() => runner.invoke(params, ref))
        .then(async (activation) => {
          if (!contextKeys.length) return activation;
          try {
            const { updates, undeclared } = takeUpdates(activation.response.result, contextKeys, ref ? `/${ref.namespace}/${ref.name}` : '');
            for (const u of undeclared.filter((x) => !warnedUndeclared.has(x)).slice(0, 8)) {
              warnedUndeclared.add(u);
              node.warn(`The action wrote context key ${u}, which the node does not declare: it was ignored. Add it to the node's context keys.`);
            }
            await writeContext(updates);
          } catch (err) {
            // The activation ran: it is recorded and in msg.data, the message goes to Catch.
            ran(activation, params);
            msg.data = activation;
            throw err;
          }
          return activation;
        })
        .then(
          (activation) => {
            ran(activation, params);
            msg.payload = activation.response.result;
            msg.data = activation;
            try {
              send(msg);
            } catch (err) {
              // Node-RED copying the message failed (it is the action's result): the flow goes on.
              done(err instanceof Error ? err : new Error(String(err)));
              return;
            }
            done();
          },
          (err: OpenWhiskNodeError) => {
            ran(err.activation, params);
            if (err.activation) msg.data = err.activation;
            done(err instanceof Error ? err : new Error(String(err)));
          },
        );
    });

    node.on('close', (removed: boolean, done: () => void) => {
      runner.close().then(
        () => done(),
        (err: Error) => {
          node.warn(err.message);
          done();
        },
      );
    });
  }
  RED.nodes.registerType('openwhisk-action', OpenWhiskActionNode);
};
