import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { ManifestCatalog } from '../lib/catalog/manifest';
import { OpenWhiskNodeError } from '../lib/errors';
import { checkNamespace, invocationParams, paramsObject, type ParamItem } from '../lib/params';
import { StatusThrottle } from '../lib/status-throttle';
import type { OpenWhiskService } from '../lib/service';
import { checkCloudTrigger, fireInCloud, LocalTriggers, parseTriggerName, type Firing, type TriggerRef } from '../lib/trigger';
import { refuseMessages, ringText, type RuntimeNode, type ServiceNode, usableService } from './shared';

interface TriggerDef extends NodeDef {
  runtime?: string;
  /** Legacy (node-red-node-openwhisk): a service and no runtime fires in the cloud. */
  service?: string;
  namespace?: string;
  trigger?: string;
  params?: ParamItem[];
  /** Legacy "Allow Edits": the old node then deployed its params as the trigger's; here they go with every firing. */
  edit?: boolean;
}

type TriggerMsg = NodeMessageInFlow & { trigger?: unknown; namespace?: unknown; data?: unknown; activations?: unknown };

type Firer = { mode: 'cloud'; service: OpenWhiskService } | { mode: 'local'; triggers: LocalTriggers };

export = function (RED: NodeAPI) {
  const t = (key: string, vars?: Record<string, string | number>) => RED._(`openwhisk-trigger.${key}`, vars);
  const ring = (err: unknown): NodeStatus => ({
    fill: 'red',
    shape: 'ring',
    text: err instanceof OpenWhiskNodeError ? ringText(RED._, 'openwhisk-trigger', err.short) : t('status.error'),
  });

  function OpenWhiskTriggerNode(this: Node, config: TriggerDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    // Every change of the ring goes through the throttle (lib/status-throttle.ts), as the action node's:
    // a burst of messages shows each change at first, then at most one every 50 ms, the last one always.
    const shown = new StatusThrottle<NodeStatus>((s) => node.status(s));
    const status = (s: NodeStatus) => shown.push(s);
    const nodeParams = paramsObject(config.params);
    const configuredTrigger = (config.trigger ?? '').trim();
    const configuredNamespace = (config.namespace ?? '').trim();

    let firer: Firer;
    let defaultRef: TriggerRef | undefined;
    try {
      defaultRef = configuredTrigger ? parseTriggerName(configuredTrigger, configuredNamespace) : undefined;
      if (config.runtime) {
        const runtime = RED.nodes.getNode(config.runtime) as RuntimeNode | null;
        if (!runtime) throw new OpenWhiskNodeError('config', t('errors.no-runtime'), { short: 'no runtime' });
        const target = runtime.target();
        if (target.mode === 'local' && target.catalog instanceof ManifestCatalog) {
          firer = {
            mode: 'local',
            triggers: new LocalTriggers(node.id, target.catalog, target, (r) =>
              status({ fill: 'red', shape: 'ring', text: r.detail === undefined ? t('status.error') : ringText(RED._, 'openwhisk-trigger', String(r.detail)) }),
            ),
          };
        } else {
          // A local runtime whose catalog is the service: the trigger and its rules live there, and
          // OpenWhisk runs the rules' actions itself; the node fires it through that service.
          firer = { mode: 'cloud', service: target.mode === 'cloud' ? target.service : runtime.cloudService() };
        }
      } else if (config.service) {
        const svc = RED.nodes.getNode(config.service) as ServiceNode | null;
        if (!svc) throw new OpenWhiskNodeError('config', t('errors.no-runtime'), { short: 'no service' });
        firer = { mode: 'cloud', service: usableService(svc) };
      } else {
        throw new OpenWhiskNodeError('config', t('errors.no-runtime'), { short: 'no runtime' });
      }
    } catch (err) {
      refuseMessages(node, err as OpenWhiskNodeError, ring(err));
      return;
    }

    const where = t(`status.${firer.mode}`);
    const ready = (): NodeStatus => ({ fill: 'green', shape: 'dot', text: `${where} · ${t('status.ready')}` });
    // At deploy: the trigger exists (cloud: GET the trigger; local: in the manifest, its rules'
    // actions provisioned). Without a trigger in the node, it waits for msg.trigger.
    const started: Promise<void> = (async () => {
      if (!defaultRef) {
        status({ fill: 'grey', shape: 'ring', text: where });
        return;
      }
      status({ fill: 'yellow', shape: 'ring', text: t('status.checking') });
      try {
        if (firer.mode === 'local') {
          const trig = await firer.triggers.start(defaultRef.name);
          if (trig.rules.length === 0) node.warn(t('errors.no-rules', { trigger: trig.name, manifest: firer.triggers.location }));
        } else {
          await checkCloudTrigger(firer.service, defaultRef);
        }
        status(ready());
      } catch (err) {
        status(ring(err));
        node.error((err as Error).message);
      }
    })();

    let inflight = 0;
    node.on('input', (msg: TriggerMsg, send, done) => {
      let ref = defaultRef;
      let params: Record<string, unknown>;
      try {
        params = invocationParams(nodeParams, msg.payload);
        if (!configuredTrigger && typeof msg.trigger === 'string' && msg.trigger.trim()) {
          const ns = configuredNamespace || (typeof msg.namespace === 'string' ? msg.namespace : '');
          ref = parseTriggerName(msg.trigger, ns);
        } else if (configuredTrigger && typeof msg.trigger === 'string' && msg.trigger.trim() && msg.trigger.trim() !== configuredTrigger) {
          node.warn(RED._('node-red:common.errors.nooverride'));
        } else if (ref && !configuredNamespace && typeof msg.namespace === 'string' && msg.namespace.trim() && !configuredTrigger.startsWith('/')) {
          ref = { ...ref, namespace: checkNamespace(msg.namespace) };
        }
        if (!ref) throw new OpenWhiskNodeError('config', t('errors.no-trigger'), { short: 'no trigger' });
      } catch (err) {
        status(ring(err));
        done(err as Error);
        return;
      }
      const target = ref;
      inflight++;
      status({ fill: 'blue', shape: 'dot', text: t('status.firing') });
      void started
        .then((): Promise<Firing> => (firer.mode === 'local' ? firer.triggers.fire(target.name, params) : fireInCloud(firer.service, target, params)))
        .then(
          (firing) => {
            inflight--;
            msg.payload = firing.activationId ? { activationId: firing.activationId } : {};
            if (firing.trigger) msg.data = firing.trigger;
            if (firing.activations) msg.activations = firing.activations;
            if (inflight === 0) {
              status(
                firing.activationId
                  ? { fill: 'green', shape: 'dot', text: `${where} · ${t('status.fired')}` }
                  : { fill: 'yellow', shape: 'dot', text: t('status.no-active-rule') },
              );
            }
            try {
              send(msg);
            } catch (err) {
              done(err instanceof Error ? err : new Error(String(err)));
              return;
            }
            done();
          },
          (err: unknown) => {
            inflight--;
            status(ring(err));
            done(err instanceof Error ? err : new Error(String(err)));
          },
        );
    });

    node.on('close', (removed: boolean, done: () => void) => {
      shown.close();
      if (firer.mode !== 'local') return done();
      firer.triggers.close().then(
        () => done(),
        (err: Error) => {
          node.warn(err.message);
          done();
        },
      );
    });
  }
  RED.nodes.registerType('openwhisk-trigger', OpenWhiskTriggerNode);
};
