import type { IncomingMessage } from 'node:http';
import { OpenWhiskNodeError } from '../errors';
import { formatBytes, InFlight } from '../in-flight';
import type { ActionRef, Activation, InvokeOptions } from '../types';
import type { GatewayApiOptions } from './api';
import { asHop, MAX_HOPS, parseVia, VIA_HEADER } from './context';
import { failedBeforeRun, failureOf, HttpError, newId, readBody, type Reply } from './reply';

/**
 * POST /namespaces/{ns}/actions/[{pkg}/]{name}: the invoke path of the gateway API (api.ts routes to it once the key,
 * the names and the namespace are checked). Reads the body, checks the via header (loops between gateways), counts the
 * activation against maxActivations until it is done (also after a 202), runs it and answers as OpenWhisk's controller
 * does (blocking or not, result only or the whole activation); the record is kept in the store.
 * One instance per API, made with it: nothing is allocated here per request beyond the invocation's own.
 */
export class Invoker {
  /** Activations started through the API and not done yet (see GatewayApiOptions.maxActivations). */
  readonly work: InFlight;
  private readonly blockingMs: number;
  private readonly bodyMs: number;

  constructor(private readonly o: GatewayApiOptions) {
    this.blockingMs = o.blockingMs ?? 60000;
    this.bodyMs = o.bodyMs ?? 10000;
    this.work = new InFlight(o.maxActivations ?? 256, o.maxActivationBytes ?? 4 * o.maxBody);
  }

  async invoke(req: IncomingMessage, ref: ActionRef, q: URLSearchParams): Promise<Reply> {
    const via = parseVia(req.headers[VIA_HEADER]);
    if (!via) {
      req.resume();
      throw new HttpError(400, `The ${VIA_HEADER} header is malformed.`);
    }
    if (via.includes(this.o.instanceId) || via.length > MAX_HOPS) {
      req.resume();
      const path = [...via, this.o.instanceId].map((s) => s.slice(0, 8)).join(' → ');
      throw new HttpError(
        508,
        `Gateway loop refused: this invocation has already passed through this gateway (${path}). Check the burst targets of the gateways' runtimes.`,
      );
    }
    const { params, bytes } = await readBody(req, this.o.maxBody, this.bodyMs);
    const blocking = q.get('blocking') === 'true';
    const resultOnly = q.get('result') === 'true';
    let wait = this.blockingMs;
    if (q.has('timeout')) {
      const t = Number(q.get('timeout'));
      if (!Number.isInteger(t) || t < 1 || t > this.blockingMs) throw new HttpError(400, `The timeout must be between 1 and ${this.blockingMs} ms.`);
      wait = t;
    }
    // Every activation started here counts until it is done, also after its 202: OpenWhisk's concurrent-invocations throttle.
    if (!this.work.take(bytes)) throw this.busy(bytes);
    const activationId = newId();
    const received = Date.now();
    const idHeader = { 'x-openwhisk-activation-id': activationId };
    // Answered 202 (non-blocking): it waits in line for a container as OpenWhisk queues it, within the blocking window's length.
    const opts: InvokeOptions = { via: [...via, this.o.instanceId], activationId, capacityWaitMs: blocking ? undefined : this.blockingMs };
    const running = this.o.invoke(ref, params, opts).then(
      (a) => asHop({ ...a, activationId }, this.o.instanceId),
      (e: unknown) => {
        const act = e instanceof OpenWhiskNodeError ? e.activation : undefined;
        if (act) return asHop({ ...act, activationId }, this.o.instanceId);
        throw e;
      },
    );
    const done = () => this.work.release(bytes);
    running.then(done, done);
    // Kept in the store once done, when the client is not answered with it (202).
    const keepLater = () =>
      running.then(
        (a) => this.keep(a),
        (e) => this.recordFailure(ref, activationId, received, e),
      );
    if (!blocking) {
      keepLater();
      return { status: 202, body: { activationId }, headers: idHeader };
    }
    let outcome: Activation | undefined;
    try {
      outcome = await within(running, wait);
    } catch (e) {
      throw failureOf(e);
    }
    if (!outcome) {
      keepLater();
      return { status: 202, body: { activationId }, headers: idHeader };
    }
    const a = outcome;
    const status = a.response.success ? 200 : a.response.status === 'whisk internal error' ? 500 : 502;
    // The record is complete (logs included: the engine resolves once they are in); it is kept right after the
    // answer is written, before this process reads another request, so a client's next request finds it.
    return { status, body: resultOnly ? a.response.result : a, headers: idHeader, after: () => this.keep(a) };
  }

  /**
   * The record of an invocation that failed before its action ran (no container, catalog gone…), kept
   * for the client that got a 202: qualified and annotated as the action's own records are.
   */
  private async recordFailure(ref: ActionRef, activationId: string, received: number, e: unknown): Promise<void> {
    const doc = await this.o.getAction(ref).catch(() => undefined);
    try {
      this.o.store.add(failedBeforeRun(ref, doc, activationId, this.o.namespace, received, e));
    } catch {
      /* the store reports its own write failures */
    }
  }

  /** The 429 of an invoke beyond maxActivations, with OpenWhisk's text for its concurrent-invocations throttle. */
  private busy(bytes: number): HttpError {
    const w = this.work;
    const detail =
      w.count >= w.maxCount
        ? 'activations started through this API are still running'
        : `the activations still running hold ${formatBytes(w.bytes)} of parameters; with this one's ${formatBytes(bytes)} they would pass ${formatBytes(w.maxBytes)}`;
    return new HttpError(429, `Too many concurrent requests in flight (count: ${w.count}, allowed: ${w.maxCount}): ${detail}. Retry later.`);
  }

  /** The activation as this gateway answered it (under the id the client was given), kept in the store. */
  private keep(a: Activation): void {
    try {
      this.o.store.add(a);
    } catch {
      /* the store reports its own write failures */
    }
  }
}

/** `running`'s value, or undefined when it takes longer than `ms`; rejects as `running` does. */
function within<T>(running: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    running.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
