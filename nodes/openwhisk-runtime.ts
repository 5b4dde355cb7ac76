import type { NodeAPI, NodeDef } from 'node-red';
import { OpenWhiskNodeError } from '../lib/errors';
import { LocalEngine } from '../lib/local/engine';
import type { RunnerTarget } from '../lib/runner';
import { instanceId, parseImageOverrides } from '../lib/runtime-config';
import type { RuntimeNode, ServiceNode } from './shared';

interface RuntimeDef extends NodeDef {
  mode: 'cloud' | 'local';
  service: string;
  docker?: string;
  images?: string;
  network?: string;
  capacity?: string | number;
  queue?: string | number;
}

export = function (RED: NodeAPI) {
  function OpenWhiskRuntimeNode(this: RuntimeNode & { engine?: LocalEngine }, config: RuntimeDef) {
    RED.nodes.createNode(this, config);
    this.mode = config.mode === 'local' ? 'local' : 'cloud';
    const serviceNode = config.service ? (RED.nodes.getNode(config.service) as ServiceNode | null) : null;

    const service = () => {
      if (!serviceNode) {
        throw new OpenWhiskNodeError('config', 'The openwhisk-runtime has no openwhisk-service: choose one in its config (it is the catalog of actions, and in cloud mode where they run).', { short: 'no service' });
      }
      if (serviceNode.configError || !serviceNode.service) {
        throw serviceNode.configError ?? new OpenWhiskNodeError('config', 'The openwhisk-service config node is incomplete.', { short: 'bad service' });
      }
      return serviceNode.service;
    };

    let configError: OpenWhiskNodeError | undefined;
    if (this.mode === 'local') {
      try {
        const svc = serviceNode?.service;
        this.engine = new LocalEngine({
          docker: (config.docker ?? '').trim(),
          instanceId: instanceId(RED.settings.userDir as string | undefined),
          runtimeId: this.id,
          imageOverrides: parseImageOverrides(config.images),
          network: (config.network ?? '').trim(),
          capacity: Number(config.capacity) || undefined,
          queueLimit: Number(config.queue) || undefined,
          apiHost: svc?.host,
          apiKey: svc?.apiKey,
        });
      } catch (err) {
        configError = err instanceof OpenWhiskNodeError ? err : new OpenWhiskNodeError('config', `Invalid local runtime settings: ${(err as Error).message}`, { short: 'bad config' });
      }
    }

    this.target = (): RunnerTarget => {
      if (configError) throw configError;
      if (this.mode === 'cloud') return { mode: 'cloud', service: service() };
      return { mode: 'local', catalog: service(), engine: this.engine! };
    };

    this.on('close', (removed: boolean, done: () => void) => {
      const engine = this.engine;
      this.engine = undefined;
      if (!engine) return done();
      engine.close().then(() => done(), (err: Error) => {
        this.warn(`Removing containers failed: ${err.message}`);
        done();
      });
    });
  }
  RED.nodes.registerType('openwhisk-runtime', OpenWhiskRuntimeNode as never);
};
