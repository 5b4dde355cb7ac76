// Types shared by the node files: what a config node offers the nodes that use it.
import type { Node } from 'node-red';
import type { OpenWhiskNodeError } from '../lib/errors';
import type { RunnerTarget } from '../lib/runner';
import type { OpenWhiskService } from '../lib/service';

export interface ServiceNode extends Node<{ key?: string }> {
  api: string;
  /** Skip TLS verification (the node's own setting; a lookup never takes another one with its key). */
  insecure: boolean;
  /** The service, or undefined when the config is incomplete (see configError). */
  service?: OpenWhiskService;
  configError?: OpenWhiskNodeError;
}

export interface RuntimeNode extends Node {
  mode: 'cloud' | 'local';
  /** Where actions run and come from; throws a clear error when the config is incomplete. */
  target(): RunnerTarget;
  /** The runtime's openwhisk-service (where triggers live when the catalog is not a manifest); throws when missing. */
  cloudService(): OpenWhiskService;
}
