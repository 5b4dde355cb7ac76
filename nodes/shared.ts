// Types and helpers shared by the node files: what a config node offers the nodes that use it.
import type { Node, NodeStatus } from 'node-red';
import { OpenWhiskNodeError } from '../lib/errors';
import type { RunnerTarget } from '../lib/runner';
import type { OwnCatalog } from '../lib/runtime';
import type { Activation } from '../lib/types';
import type { OpenWhiskService } from '../lib/service';
export { usableService } from '../lib/service';

export interface ServiceNode extends Node<{ key?: string }> {
  api: string;
  /** Skip TLS verification (the node's own setting; a lookup never takes another one with its key). */
  insecure: boolean;
  /** The service, or undefined when the config is incomplete (see configError). */
  service?: OpenWhiskService;
  configError?: OpenWhiskNodeError;
}

export type { OwnCatalog };

export interface RuntimeNode extends Node {
  mode: 'cloud' | 'local';
  /**
   * Where actions run and come from; throws a clear error when the config is incomplete. With `own`,
   * a local runtime's nodes run from that catalog (the runtime needs none of its own).
   */
  target(own?: OwnCatalog): RunnerTarget;
  /** The runtime's openwhisk-service (where triggers live when the catalog is not a manifest); throws when missing. */
  cloudService(): OpenWhiskService;
  /** Keeps a record of an activation one of its nodes ran in the cloud (for the editor's sidebar). */
  keepCloudActivation?(a: Activation, nodeId: string, params: unknown): void;
}

/**
 * A node that cannot work (its config is wrong): a red ring and the reason in the log at deploy, and
 * every message reaches Catch nodes with that reason (done(err)), never dropped in silence.
 */
export function refuseMessages(node: Node, err: OpenWhiskNodeError, ring: NodeStatus): void {
  node.status(ring);
  node.error(err.message);
  node.on('input', (_msg: unknown, _send: unknown, done: (err?: Error) => void) => done(err));
}

const slug = (words: string): string =>
  words
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');

/**
 * A status ring's short text in the editor's language. lib/ gives English words ("capacity full",
 * "docker: disk full"); the node's locale file has them under `<ns>.short.<words as a key>` (lower case,
 * other characters as '-'). "words: detail" (an action's own error quoted after its words) keeps the
 * detail. Words the locale lacks show as given.
 */
export function ringText(translate: (key: string) => string, ns: string, short: string): string {
  const look = (words: string): string | undefined => {
    const key = `${ns}.short.${slug(words)}`;
    const text = translate(key);
    return text && text !== key ? text : undefined;
  };
  const whole = look(short);
  if (whole) return whole;
  const at = short.indexOf(': ');
  const head = at > 0 ? look(short.slice(0, at)) : undefined;
  return head ? `${head}: ${short.slice(at + 2)}` : short;
}
