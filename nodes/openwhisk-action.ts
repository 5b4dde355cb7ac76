import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { LogLines } from '../lib/activations/log-lines';
import { annotation } from '../lib/activations/row';
import { OpenWhiskNodeError } from '../lib/errors';
import { checkNamespace, invocationParams, paramsObject, parseActionName, type ParamItem } from '../lib/params';
import { ActionRunner, type PhaseReport, type RunnerTarget } from '../lib/runner';
import type { ActionRef, Activation } from '../lib/types';
import { refuseMessages, type RuntimeNode, type ServiceNode } from './shared';

interface ActionDef extends NodeDef {
  runtime?: string;
  /** Legacy (node-red-node-openwhisk): a service and no runtime runs in cloud mode. */
  service?: string;
  namespace?: string;
  action?: string;
  params?: ParamItem[];
  /** Write each activation's log lines to Node-RED's log (node.log), at most 20 lines a second. */
  logs?: boolean;
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
      case 'fetching':
      case 'pulling':
      case 'starting':
      case 'initializing':
        return { fill: 'yellow', shape: 'ring', text: t(r.phase) };
      case 'ready': {
        const text = r.detail === undefined ? `${where} · ${t('ready')}` : t('ready-containers', { count: r.detail });
        return { fill: 'green', shape: 'dot', text: r.note ? `${text} · ${t(r.note)}` : text };
      }
      case 'invoking':
        return { fill: 'blue', shape: 'dot', text: Number(r.detail) > 1 ? t('invoking-n', { count: r.detail ?? 1 }) : t('invoking') };
      case 'error':
        return { fill: 'red', shape: 'ring', text: String(r.detail ?? t('error')) };
    }
  };

  function OpenWhiskActionNode(this: Node, config: ActionDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const nodeParams = paramsObject(config.params);
    const configuredAction = (config.action ?? '').trim();
    const configuredNamespace = (config.namespace ?? '').trim();

    let target: RunnerTarget;
    let runtime: RuntimeNode | null = null;
    try {
      if (config.runtime) {
        runtime = RED.nodes.getNode(config.runtime) as RuntimeNode | null;
        if (!runtime) throw new OpenWhiskNodeError('config', MISSING_RUNTIME, { short: 'no runtime' });
        target = runtime.target();
      } else if (config.service) {
        const svc = RED.nodes.getNode(config.service) as ServiceNode | null;
        if (!svc) throw new OpenWhiskNodeError('config', MISSING_RUNTIME, { short: 'no service' });
        if (svc.configError || !svc.service) throw svc.configError ?? new OpenWhiskNodeError('config', 'The openwhisk-service config node is incomplete.', { short: 'bad service' });
        target = { mode: 'cloud', service: svc.service };
      } else {
        throw new OpenWhiskNodeError('config', MISSING_RUNTIME, { short: 'no runtime' });
      }
    } catch (err) {
      refuseMessages(node, err as OpenWhiskNodeError);
      return;
    }

    let defaultRef: ActionRef | undefined;
    try {
      defaultRef = configuredAction ? parseActionName(configuredAction, configuredNamespace) : undefined;
    } catch (err) {
      refuseMessages(node, err as OpenWhiskNodeError);
      return;
    }

    const runner = new ActionRunner(node.id, target, defaultRef, (r) => node.status(statusOf(r)));
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
        if (!configuredAction && typeof msg.action === 'string' && msg.action.trim()) {
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
      runner.invoke(params, ref).then(
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
