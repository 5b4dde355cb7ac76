// Shapes shared by the cloud and local paths. They follow the OpenWhisk REST API
// (apache/openwhisk, core/controller/src/main/resources/apiv1swagger.json: actions and activations).

import type { EngineHealth, ProvisionStatus } from './status';

export interface KeyValue {
  key: string;
  value: unknown;
  /** Parameter delivered to /init env instead of /run value. */
  init?: boolean;
}

export interface ActionExec {
  kind: string;
  code?: string;
  binary?: boolean;
  main?: string;
  /** Blackbox image. */
  image?: string;
  /** Sequence components, fully qualified with a leading slash: "/ns/pkg/name". */
  components?: string[];
}

export interface ActionLimits {
  timeout?: number;
  memory?: number;
  logs?: number;
  concurrency?: number;
}

/** An action as GET /namespaces/{ns}/actions/{name} returns it (package params already merged). */
export interface ActionDoc {
  /** "ns" or "ns/pkg". */
  namespace: string;
  name: string;
  version?: string;
  exec: ActionExec;
  parameters?: KeyValue[];
  annotations?: KeyValue[];
  limits?: ActionLimits;
  publish?: boolean;
  updated?: number;
}

export type ActivationStatus = 'success' | 'application error' | 'action developer error' | 'whisk internal error';

export interface ActivationResponse {
  status: ActivationStatus;
  success: boolean;
  result: unknown;
  size?: number;
}

/** An activation record, the same shape in cloud and local mode (msg.data). */
export interface Activation {
  activationId: string;
  namespace: string;
  name: string;
  subject?: string;
  version?: string;
  publish?: boolean;
  start: number;
  end: number;
  duration: number;
  response: ActivationResponse;
  logs: string[];
  annotations: KeyValue[];
  cause?: string;
}

/** Where an action is to be found: `name` may be "action" or "pkg/action". */
export interface ActionRef {
  namespace: string;
  name: string;
}

/** Something that knows actions: an OpenWhisk service, a manifest folder, an on-disk cache. */
export interface Catalog {
  /** Human-readable location for error messages (API host, manifest path). */
  readonly location: string;
  /** The action with its code; package and binding parameters merged as the controller does. */
  getAction(ref: ActionRef): Promise<ActionDoc>;
  /** kind → image, from the deployment's runtimes manifest (GET / on the API host); empty when unknown. */
  runtimeImages(): Promise<Record<string, string>>;
  /** True when `doc` was served from an on-disk cache because the catalog itself was unreachable. */
  fromCache?(doc: ActionDoc): boolean;
}

/**
 * What one invocation carries through the runner, the pools, the recorder and a burst, given by
 * whoever started it (the gateway API); an action node's messages carry none.
 */
export interface InvokeOptions {
  /** The id the caller answered (non-blocking) or will answer with: the activation gets it, and the caller stores it. */
  activationId?: string;
  /**
   * Already accepted (answered 202): how long it may wait for a container while the runtime's
   * capacity is in use, as OpenWhisk queues it, instead of failing at once.
   */
  capacityWaitMs?: number;
  /** Instance ids of the gateways this invocation passed through, the current one last (a burst sends them on). */
  via?: string[];
}

/** How a close may wait. */
export interface CloseOptions {
  /**
   * 'removed' (default): resolve when its containers are gone; 'stopped': as soon as it takes no
   * more work, its containers being removed in the background (they keep their capacity slots until
   * gone, and the runtime's close and its crash sweep still remove them).
   */
  wait?: 'removed' | 'stopped';
}

/**
 * Something you can invoke: the cloud (cloud.ts), a provisioned local action (a pool or a sequence,
 * lib/local), and what the recorder and the shared pools wrap around one.
 */
export interface Invocable {
  /** Resolves with the activation on success; rejects with an OpenWhiskNodeError otherwise (with `activation` when the action ran). */
  invoke(params: Record<string, unknown> | unknown[], ref?: ActionRef, opts?: InvokeOptions): Promise<Activation>;
  /** Releases what it holds; a local action rejects its queued and in-flight messages and removes its containers. */
  close(opts?: CloseOptions): Promise<void>;
  /** Containers ready to run it now (local actions; for a sequence: of all its components). */
  readonly containers?: number;
}

/** How a provisioning may wait for room. */
export interface ProvisionOptions {
  /**
   * The work is already accepted (an activation answered 202, which OpenWhisk queues until a
   * container is free): wait up to this long for a container while the capacity is in use, instead
   * of failing at once.
   */
  capacityWaitMs?: number;
}

/**
 * Makes actions invocable: the local Docker engine (lib/local/engine.ts), and what the runtime hands
 * out in its place (the recorder, lib/activations/record.ts; the shared pools, lib/gateway/shared-pools.ts).
 */
export interface Provisioner {
  /** Resolves once the action can run without a cold start; `onStatus` hears each step (status.ts ProvisionStatus). */
  provision(nodeId: string, action: ActionDoc, catalog: Catalog, onStatus?: (s: ProvisionStatus) => void, opts?: ProvisionOptions): Promise<Invocable>;
  /** 'health' events: the Docker engine went down, lacks room, or is ok again. */
  on?(event: 'health', listener: (h: EngineHealth) => void): unknown;
  off?(event: 'health', listener: (h: EngineHealth) => void): unknown;
}
