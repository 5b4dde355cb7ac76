// The protocol client of one action container's proxy, spoken over HTTP: the readiness probe, POST
// /init (exactly once), POST /run per activation, and the framing of the container's output into
// per-activation log lines (logs.ts: the runtime's sentinels, or a short grace when it writes none).
// It knows nothing of Docker nor of the container object: container.ts (the Docker lifecycle) gives
// it an address, an agent, limits and the container's output, calls it, and applies what it returns
// to its own state. Nothing here calls back into the container.

import fs from 'node:fs';
import type http from 'node:http';
import { MAX_QUOTE_CHARS, OpenWhiskNodeError, clip } from '../errors';
import type { ActionDoc, ActionLimits } from '../types';
import { HttpCallError, postJson, probe, RUN_HEADERS, type CallHandle, type HttpReply, warmUpCall } from './http';
import { LogFramer, type ChunkSink, type LogFrame } from './logs';
import { Messages, initBody, initFailureMessage, runContext, type ActionIdentity } from './protocol';

export interface ContainerLimits {
  /** Bound on "created → proxy listening" (ms). */
  readonly startTimeout: number;
  /** How long to wait for a late log sentinel after a reply (ms). */
  readonly logGrace: number;
  /** Largest /init or /run reply read from a container, in bytes (OpenWhisk's activation payload limit). */
  readonly maxResult: number;
}

/** What the protocol needs to know of the action a container runs. */
export interface ProtocolPlan {
  id: ActionIdentity;
  doc: ActionDoc;
  image: string;
  limits: Required<ActionLimits>;
  /** /run calls in flight per container (1 unless the image supports concurrency and limits allow). */
  maxInflight: number;
  initParams: Record<string, unknown>;
  apiKey?: string;
}

export type RunFailure = 'timeout' | 'dropped' | 'closed' | 'too_large';

/** Why a container stopped answering: the engine went away (and stopped it), its memory limit, or anything else. */
export type LossCause = 'engine' | 'oom' | 'exited';

export interface RunOutcome {
  reply?: HttpReply;
  failure?: RunFailure;
  /** The container's memory limit killed it. */
  oom?: boolean;
  /** The Docker engine went away while the run was in flight (and stopped the container). */
  engineLost?: boolean;
  /** failure 'too_large': the reply's length (declared, or read so far), the limit, its beginning. */
  oversize?: { length: number; limit: number; head: string };
  logs: string[];
  /** The container must not be used again. */
  fatal: boolean;
}

/** What a /run exchange gives back; container.ts adds what it decides (fatal, the loss cause). */
export type Exchange = Pick<RunOutcome, 'reply' | 'failure' | 'oversize' | 'logs'>;

export function closedError(what: string): OpenWhiskNodeError {
  return new OpenWhiskNodeError('config', `${what}: the local runtime was closed (flow stopped or redeployed).`, { reason: 'closed' });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function newFramer(plan: ProtocolPlan): LogFramer {
  return new LogFramer({ framed: plan.maxInflight === 1, limitBytes: plan.limits.logs * 1024 * 1024 });
}

/** How a POST /init ended short of an error it can name itself: its duration, or a dropped connection. */
export type InitReply = { ms: number } | { dropped: true };

/** The client of one container's action proxy: its address, its open calls, its log framer. */
export class ProxyClient {
  /** Where the proxy listens (the container sets it once Docker says). */
  host = '';
  port = 0;
  private framer: LogFramer;
  private readonly calls = new Set<CallHandle>();
  /** The output stream ended since the framer started (outputEnded). */
  private ended = false;

  constructor(
    private readonly agent: http.Agent,
    private readonly limits: ContainerLimits,
    plan: ProtocolPlan,
  ) {
    this.framer = newFramer(plan);
  }

  /** Where the container's demultiplexed stdout and stderr go. */
  get sinks(): { stdout: ChunkSink; stderr: ChunkSink } {
    return { stdout: this.framer.stdout, stderr: this.framer.stderr };
  }

  /** Frame a new output stream from scratch (a container re-created after a retry, or re-attached after an outage). */
  restartLogs(plan: ProtocolPlan): void {
    this.framer = newFramer(plan);
    this.ended = false;
  }

  /** The output stream ended: flush what is buffered; frames waiting for sentinels close. */
  outputEnded(): void {
    this.ended = true;
    this.framer.end();
  }

  /** Fail every call still open with kind 'aborted' and this reason. */
  abortAll(reason: string): void {
    for (const c of [...this.calls]) c.abort(reason);
    this.calls.clear();
    this.dropSockets();
  }

  /**
   * The container goes: so do its kept-alive connections. A later container may get the same address
   * (an IP on a Docker network, a recycled host port), and a socket to a killed container may never
   * be reset: a /init on it would wait for its timeout.
   */
  private dropSockets(): void {
    if (!this.host) return;
    const prefix = `${this.host}:${this.port}:`;
    for (const [name, list] of Object.entries(this.agent.freeSockets)) {
      if (name.startsWith(prefix)) for (const sock of [...(list ?? [])]) sock.destroy();
    }
  }

  /**
   * The readiness probe: whether the proxy at host:port answers HTTP, within `deadline` (a time;
   * each probe at most 1 s). Safe to repeat: it has no side effect.
   */
  probeReady(deadline: number): Promise<boolean> {
    return probe(this.host, this.port, Math.min(1000, Math.max(50, deadline - Date.now())));
  }

  /** The error for a proxy that did not listen within `timeoutMs`; `label` names the container. */
  notListening(label: string, plan: ProtocolPlan, timeoutMs: number, onNetwork: boolean): OpenWhiskNodeError {
    const inContainer = !onNetwork && fs.existsSync('/.dockerenv');
    return new OpenWhiskNodeError(
      'docker',
      `${label} (image '${plan.image}') did not listen on port 8080 within ${timeoutMs} ms at ${this.host}:${this.port}. ` +
        (inContainer
          ? `Node-RED seems to run in a container: set the runtime's Docker network to the network Node-RED is attached to. `
          : `Is it an OpenWhisk action image (action proxy on port 8080)? `) +
        this.logsSection(),
      { short: 'start timeout' },
    );
  }

  /**
   * One `POST /warm-up` on the kept-alive agent (http.ts warmUpCall), at most 4 KB within 1 s:
   * whether it was answered. A stem cell gets a few once it listens (container.ts warmUp).
   */
  warmUpCall(): Promise<boolean> {
    return warmUpCall(this.agent, this.host, this.port, 1000);
  }

  /**
   * POST /init with the plan's code. Resolves with its duration (ms), or `dropped` when the
   * connection broke (why is the container's to find out: initDropped then says it); rejects with a
   * clear OpenWhiskNodeError otherwise. `label` names the container.
   */
  async postInit(plan: ProtocolPlan, label: string): Promise<InitReply> {
    const ctx = runContext(plan.id, plan.limits.timeout, plan.apiKey);
    const body = JSON.stringify(initBody(plan.doc, ctx, plan.initParams));
    const t0 = Date.now();
    let reply: HttpReply;
    try {
      reply = await postJson(this.agent, this.host, this.port, '/init', body, plan.limits.timeout, this.tracker(), this.limits.maxResult);
    } catch (err) {
      const e = err as HttpCallError;
      if (e.kind === 'aborted' && e.message === 'closed') throw closedError(`Initialising ${label}`);
      if (e.kind === 'too_large' && e.oversize) {
        const o = e.oversize;
        throw new OpenWhiskNodeError(
          'developer_error',
          `Action '${plan.id.qualified}' failed to initialize: ${Messages.truncatedResponse(o.length, o.limit, o.head)} ${this.logsSection()}`,
          { short: 'init failed' },
        );
      }
      if (e.kind === 'timeout') {
        throw new OpenWhiskNodeError(
          'timeout',
          `Action '${plan.id.qualified}' failed to initialize: ${Messages.timedOut(plan.limits.timeout, true)} ${this.logsSection()}`,
          { short: 'init timeout' },
        );
      }
      return { dropped: true };
    }
    if (reply.status !== 200) {
      const said = initFailureMessage(reply.body);
      const logs = await this.settledLogs();
      throw new OpenWhiskNodeError('developer_error', `Action '${plan.id.qualified}' failed to initialize (HTTP ${reply.status}): ${clip(said)} ${logs}`, {
        short: 'init failed',
        detail: clip(initReason(said, logs), 200),
      });
    }
    return { ms: Date.now() - t0 };
  }

  /** The error for a /init whose connection broke (postInit said `dropped`): `oom` when its memory limit killed it. */
  async initDropped(plan: ProtocolPlan, oom: boolean): Promise<OpenWhiskNodeError> {
    return new OpenWhiskNodeError(
      'developer_error',
      `Action '${plan.id.qualified}' failed to initialize: ${oom ? Messages.memoryExhausted : Messages.abnormalInitialization} ${await this.settledLogs()}`,
      { short: 'init failed' },
    );
  }

  /**
   * POST /run with a prepared body. Never rejects: the exchange says what happened. Resolves once
   * the activation's log lines are in (its sentinels, or a short grace; at once when the runtime
   * says it wrote nothing) so the next run starts a clean frame.
   */
  async postRun(body: string, timeoutMs: number): Promise<Exchange> {
    const frame: LogFrame = this.framer.begin();
    let reply: HttpReply | undefined;
    let failure: RunFailure | undefined;
    let oversize: RunOutcome['oversize'];
    try {
      reply = await postJson(this.agent, this.host, this.port, '/run', body, timeoutMs, this.tracker(), this.limits.maxResult, RUN_HEADERS);
    } catch (err) {
      const e = err as HttpCallError;
      // Aborted by close() → 'closed'; by the container's exit, or its removal after another
      // activation broke it (concurrency > 1) → 'dropped', as the platform sees a dead container.
      // An oversized reply was cut off mid-stream: the container is still busy writing it, so it
      // is replaced rather than given the next message.
      failure = e.kind === 'timeout' ? 'timeout' : e.kind === 'too_large' ? 'too_large' : e.kind === 'aborted' && e.message === 'closed' ? 'closed' : 'dropped';
      if (e.kind === 'too_large') oversize = e.oversize;
    }
    let logs: string[];
    if (reply) {
      if (this.framer.sentinels === 'no') this.framer.abandon(frame);
      // Our runtimes count what an activation wrote: when nothing, its logs are complete now (the
      // sentinels Docker relays a moment later are swallowed, unless the runtime says it wrote none),
      // so the reply does not wait for them.
      else if (reply.logBytes === 0 && reply.status === 200) this.framer.closeSilent(frame, !reply.noSentinels);
      const l = frame.settle(this.limits.logGrace);
      logs = Array.isArray(l) ? l : await l;
    } else {
      this.framer.abandon(frame);
      logs = frame.lines;
    }
    return { reply, failure, oversize, logs };
  }

  /** postJson hands over its handle, then undefined when done: keep the set of open calls. */
  private tracker(): (c: CallHandle | undefined) => void {
    let handle: CallHandle | undefined;
    return (c) => {
      if (c) {
        handle = c;
        this.calls.add(c);
      } else if (handle) {
        this.calls.delete(handle);
      }
    };
  }

  /** After a failed /init the proxy writes sentinels: wait briefly for them, then quote the logs. */
  private async settledLogs(): Promise<string> {
    const until = Date.now() + Math.max(100, this.limits.logGrace);
    while (Date.now() < until && !this.ended) await sleep(10);
    return this.logsSection();
  }

  /** The container's last lines for an error message: at most 30 lines and 4 KB (each line clipped). */
  logsSection(): string {
    const lines = this.framer.tail(30, MAX_QUOTE_CHARS);
    return lines.length ? `Container logs:\n${lines.join('\n')}` : '(The container wrote no logs.)';
  }
}

/** Runtime phrases around an /init failure that say nothing of its cause. */
const GENERIC_INIT = /failed to generate or locate a binary|Cannot start action|Command exited abruptly|XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX/;

/**
 * The cause of an /init failure in the action's words: the runtime's answer without its preamble, or,
 * when that is generic (the Python runtime says "see logs"), the last stderr line that is no stack frame.
 */
export function initReason(said: string, logs: string): string {
  const own = said
    .replace(/^Initialization has failed due to:\s*/, '')
    .split('\n')[0]
    .trim();
  if (own && !GENERIC_INIT.test(own)) return own;
  const lines = logs
    .split('\n')
    .map((l) => /\bstderr: (.*)$/.exec(l)?.[1]?.trim() ?? '')
    .filter((l) => l && !/^(at |File "|Traceback|\^)/.test(l) && !GENERIC_INIT.test(l))
    .map((l) => l.replace(/^Error during initialization:\s*/, ''));
  return lines.at(-1) ?? own;
}
