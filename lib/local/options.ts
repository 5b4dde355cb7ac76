// The runtime's settings: the options a runtime config node gives (LocalEngineOptions), their
// defaults and bounds (EngineSettings), the labels every container carries, and the checks on the
// Docker network. Pure: no Docker.

import { OpenWhiskNodeError } from '../errors';
import type { DockerTarget } from './docker';

export interface LocalEngineOptions {
  /** '' = DOCKER_HOST or the default socket; 'unix:///path', '/path', 'tcp://host:2375', 'http://…', 'https://…', 'ssh://user@host'. */
  docker?: string;
  /** The Node-RED instance: labels every container; start() sweeps this instance's leftovers. */
  instanceId: string;
  /** The runtime config node id (label). */
  runtimeId: string;
  /** kind → image ('nodejs:20', or a family wildcard 'nodejs:*'). */
  imageOverrides?: Record<string, string>;
  /**
   * The platform images must be built for, e.g. 'linux/arm64' (default: the Docker engine's). Only for an
   * engine that runs another architecture's images under emulation (qemu binfmt), e.g. to try Pi images on a PC.
   */
  platform?: string;
  /** '' = publish 8080 on 127.0.0.1 with a random host port; else join this Docker network and use the container IP. */
  network?: string;
  /** Max containers for the whole runtime (default 4). */
  capacity?: number;
  /** Max messages waiting per action (default 100). */
  queueLimit?: number;
  /** Value of __OW_API_HOST in every container. */
  apiHost?: string;
  /** Given to actions (/init env __OW_API_KEY, /run api_key) only if their provide-api-key annotation allows. */
  apiKey?: string;
  /** Largest /run parameters in bytes (default 8 MB; OpenWhisk's proxies accept up to 48 MB). */
  maxPayload?: number;
  /**
   * Largest /init or /run reply read from a container, in bytes (default 1 MB, OpenWhisk's
   * whisk.activation.payload.max). A bigger reply fails its activation and is not read further.
   */
  maxResult?: number;
  /** Bytes of parameters all of the runtime's queues may hold together (default 8 × maxPayload). */
  queueBytes?: number;
  /**
   * With a remote Docker engine (tcp://, https://, ssh://) and no network: publish action ports on
   * the engine host's address, reachable from its LAN (default false: refused with what to do).
   * /init and /run then travel unencrypted between Node-RED and that host.
   */
  publishRemote?: boolean;
  /** Bound on "container created → proxy listening on 8080" in ms (default 30000). Not the action's /init timeout. */
  startTimeout?: number;
  /** Containers beyond an action's first are removed after this long idle, in ms (default 60000). */
  idleTimeout?: number;
  /**
   * An action's last container is removed after this long idle, in ms (default 600000, OpenWhisk-Light's
   * 600 s; 0 = keep it warm forever, which is what the runtime node's dialog sends by default). The action's
   * next message then meets a cold start (initTime annotation).
   */
  warmTimeout?: number;
  /** 0..1 (default 0.75): when the runtime's containers exceed highWatermark × capacity, idle ones are preempted. 1 = never. */
  highWatermark?: number;
  /** 0..1 (default 0.25): preemption removes idle containers until floor(lowWatermark × capacity) remain (or none is idle). */
  lowWatermark?: number;
  /** How often the watermarks are checked, in ms (default 10000); a container idle for less than this is not preempted. */
  preemptPeriod?: number;
  /**
   * Stem cells: started containers without code, kept per container shape in use (image, memory,
   * log limit, environment), so that a new container of an action (provisioning, growth, a
   * replacement) costs one /init instead of create + start + /init. Default 0 (none); 1 is the sensible value. They
   * count against the capacity, are the first to go when an action needs a slot, and do not count
   * towards the watermarks.
   */
  stemCells?: number;
}

export const LABELS = {
  managed: 'io.leon-edge.managed',
  instance: 'io.leon-edge.instance',
  runtime: 'io.leon-edge.runtime',
  node: 'io.leon-edge.node',
  action: 'io.leon-edge.action',
  version: 'io.leon-edge.version',
  /** The engine object that created the container: the sweep spares engines alive in this process. */
  engine: 'io.leon-edge.engine',
  /**
   * A stem cell (value: its image). Docker labels are immutable, so a cell carries no action's
   * labels (node, action, version), neither before nor after it is handed to an action: the
   * engine's pools know which action each container runs, and a cell is renamed after its action.
   */
  cell: 'io.leon-edge.stemcell',
} as const;

/**
 * The bridge network containers join when the runtime names none: inter-container traffic off
 * (Docker's com.docker.network.bridge.enable_icc), so action code cannot reach another action's
 * container (its /init before ours, its /run). Ports are still published on 127.0.0.1 only. One per
 * Docker engine, shared by every runtime, created on first use and left in place.
 */
export const ISOLATION_NETWORK = 'leon-openwhisk-isolated';

const DEFAULT_CAPACITY = 4;
const DEFAULT_QUEUE_LIMIT = 100;
const DEFAULT_START_TIMEOUT = 30000;
const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;
const DEFAULT_MAX_RESULT = 1024 * 1024;
/** Upper bound of max payload and max result: what OpenWhisk's action proxies accept (48 MB). */
const MAX_BODY_BYTES = 48 * 1024 * 1024;
const DEFAULT_IDLE_TIMEOUT = 60000;
const DEFAULT_WARM_TIMEOUT = 600000;
const DEFAULT_HIGH_WATERMARK = 0.75;
const DEFAULT_LOW_WATERMARK = 0.25;
const DEFAULT_PREEMPT_PERIOD = 10000;
/**
 * One cell per container shape: it covers the cases that need one new container at a time (growth
 * under a burst, a msg.action action, a redeploy, a crashed container's replacement) for one idle
 * runtime process (~10-30 MB) and one capacity slot per image in use, a slot it gives up first when
 * an action needs it. The fault suite and the soak pass with it; 0 turns cells off.
 */
const DEFAULT_STEM_CELLS = 1;

/** The options with defaults applied and bounds enforced. */
export interface EngineSettings {
  readonly capacity: number;
  readonly queueLimit: number;
  readonly startTimeout: number;
  readonly maxPayload: number;
  readonly maxResult: number;
  readonly queueBytes: number;
  readonly idleTimeout: number;
  readonly warmTimeout: number;
  readonly highWatermark: number;
  readonly lowWatermark: number;
  readonly preemptPeriod: number;
  readonly stemCells: number;
  readonly network: string;
}

export function settingsOf(opts: LocalEngineOptions): EngineSettings {
  const capacity = positiveInt(opts.capacity, DEFAULT_CAPACITY);
  const maxPayload = Math.min(MAX_BODY_BYTES, positiveInt(opts.maxPayload, DEFAULT_MAX_PAYLOAD));
  const highWatermark = fraction(opts.highWatermark, DEFAULT_HIGH_WATERMARK);
  return {
    capacity,
    queueLimit: positiveInt(opts.queueLimit, DEFAULT_QUEUE_LIMIT, true),
    startTimeout: positiveInt(opts.startTimeout, DEFAULT_START_TIMEOUT),
    maxPayload,
    maxResult: Math.min(MAX_BODY_BYTES, positiveInt(opts.maxResult, DEFAULT_MAX_RESULT)),
    queueBytes: positiveInt(opts.queueBytes, 8 * maxPayload),
    idleTimeout: positiveInt(opts.idleTimeout, DEFAULT_IDLE_TIMEOUT),
    warmTimeout: positiveInt(opts.warmTimeout, DEFAULT_WARM_TIMEOUT, true),
    highWatermark,
    lowWatermark: Math.min(highWatermark, fraction(opts.lowWatermark, DEFAULT_LOW_WATERMARK, true)),
    preemptPeriod: positiveInt(opts.preemptPeriod, DEFAULT_PREEMPT_PERIOD),
    stemCells: Math.min(capacity, positiveInt(opts.stemCells, DEFAULT_STEM_CELLS, true)),
    network: checkNetwork(opts.network),
  };
}

/**
 * CPU shares as OpenWhisk's invoker gives them: proportional to the container's memory, out of
 * Docker's 1024 for the whole pool (ContainerPoolConfig.cpuShare). The pool here is the runtime's
 * capacity in containers of the default 256 MB, so a full runtime of default-sized actions weighs
 * as much as one ordinary process: Node-RED keeps its share of the CPU when actions spin.
 */
export function cpuShares(memoryMb: number, capacity: number): number {
  return Math.min(1024, Math.max(2, Math.floor((1024 * memoryMb) / (Math.max(1, capacity) * 256))));
}

/** A Docker network name for action containers; the modes that share another namespace are refused. */
export function checkNetwork(value: string | undefined): string {
  const n = (value ?? '').trim();
  if (!n) return '';
  if (n === 'host' || n === 'none' || /^(container|service|ns):/i.test(n) || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(n)) {
    throw new OpenWhiskNodeError(
      'config',
      `Docker network '${n}' cannot be used for action containers: 'host' would give untrusted action code the gateway's own network ` +
        `(its loopback services included), 'container:…' another container's, and 'none' no way to reach them. ` +
        `Use a user-defined bridge network (docker network create <name>), or leave the network empty.`,
      { short: 'bad network' },
    );
  }
  return n;
}

/** A number in 0..1 (exclusive of 0 unless allowZero); anything else → the default. */
function fraction(v: unknown, dflt: number, allowZero = false): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n > 1 || n < 0 || (n === 0 && !allowZero)) return dflt;
  return n;
}

function positiveInt(v: unknown, dflt: number, allowZero = false): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) return dflt;
  const i = Math.floor(n);
  return i > 0 || (allowZero && i === 0) ? i : dflt;
}

/** An engine needs to know its Node-RED instance and its runtime config node (its containers are labelled with both). */
export function checkIds(opts: LocalEngineOptions): void {
  if (!opts || typeof opts.instanceId !== 'string' || opts.instanceId.trim() === '') {
    throw new OpenWhiskNodeError('config', 'LocalEngine needs an instanceId (the Node-RED instance).', { short: 'no instance' });
  }
  if (typeof opts.runtimeId !== 'string' || opts.runtimeId.trim() === '') {
    throw new OpenWhiskNodeError('config', 'LocalEngine needs a runtimeId (the runtime config node).', { short: 'no runtime' });
  }
}

/** A Docker engine on another host would publish action ports on that host's network: only when the user says so. */
export function checkRemote(opts: LocalEngineOptions, target: DockerTarget, settings: EngineSettings): void {
  if (target.remoteHost && !settings.network && !opts.publishRemote) {
    throw new OpenWhiskNodeError(
      'config',
      `The Docker engine at ${target.description} is on another host: its action containers would serve /init and /run ` +
        `(action code and every message, unencrypted) on that host's network. Run Node-RED in a container on that engine and set ` +
        `the runtime's Docker network, or, on a network you trust, tick "Publish action ports on the Docker host's network" in the runtime config.`,
      { short: 'remote docker' },
    );
  }
}
