import { activationFailure, OpenWhiskNodeError } from './errors';
import { NoAnswer, apiFailure, formatSeconds, qualifiedName, type OpenWhiskService } from './service';
import { MAX_RESULT_DEPTH, nestedDeeperThan, tooDeepMessage } from './params';
import { OpenWhiskRest } from './openwhisk-rest';
import type { ActionRef, Activation, Invocable, InvokeOptions } from './types';

/** An activation whose result Node-RED could not copy (see MAX_RESULT_DEPTH) fails as a developer error. */
function guardDepth(a: Activation): Activation {
  if (!a || !a.response || !nestedDeeperThan(a.response.result, MAX_RESULT_DEPTH)) return a;
  return { ...a, response: { status: 'action developer error', success: false, result: { error: tooDeepMessage() } } };
}

export interface CloudInvokerOptions {
  /** First poll delay after a 202 (ms); doubles up to pollMaxMs. */
  pollStartMs?: number;
  pollMaxMs?: number;
  /**
   * Give up polling after this long (ms) past the blocking window, when the action's own time limit
   * is not known: the longest OpenWhisk action time limit (5 min) plus a margin.
   */
  pollLimitMs?: number;
}

/** Beyond an action's time limit, how long its activation may take to be stored (ms). */
const STORE_MARGIN_MS = 30000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Invokes actions through the OpenWhisk REST API, blocking, following a 202 by polling the activation. */
export class CloudInvoker implements Invocable {
  private closed = false;
  private readonly opts: Required<CloudInvokerOptions>;
  /** Actions' time limits (ms) as the catalog gave them at deploy: they bound the polling after a 202. */
  private readonly timeouts = new Map<string, number>();

  constructor(
    private readonly service: OpenWhiskService,
    private readonly defaultRef?: ActionRef,
    opts: CloudInvokerOptions = {},
  ) {
    this.opts = { pollStartMs: 200, pollMaxMs: 2000, pollLimitMs: 5 * 60_000 + STORE_MARGIN_MS, ...opts };
  }

  /** The action's time limit, from its document: polling after a 202 then stops at that limit plus a margin. */
  noteTimeout(ref: ActionRef, timeoutMs: unknown): void {
    if (typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0) {
      this.timeouts.set(qualifiedName(ref), Math.min(timeoutMs, 2 ** 31 - 1));
    }
  }

  async invoke(params: Record<string, unknown> | unknown[], ref = this.defaultRef, opts?: InvokeOptions): Promise<Activation> {
    if (!ref) throw new OpenWhiskNodeError('config', 'No action given: set one in the node or in msg.action.', { short: 'no action' });
    const fqn = qualifiedName(ref);
    const started = Date.now();
    // OpenWhisk answers a blocking invoke within its blocking window (the result, or 202 + id).
    const bound = this.service.blockingWindowMs + this.service.requestMs;
    let reply: Activation | { activationId: string };
    try {
      reply = await this.service.bounded(bound, (b) =>
        this.service.rest.invoke(ref.namespace || '_', ref.name, params, { ...b, headers: this.service.invokeHeaders(opts) }),
      );
    } catch (err) {
      if (err instanceof NoAnswer) {
        throw new OpenWhiskNodeError(
          'timeout',
          `The OpenWhisk API at ${this.service.host} did not answer the invoke of '${fqn}' within ${formatSeconds(bound)} ` +
            `(OpenWhisk answers a blocking invoke within its ${formatSeconds(this.service.blockingWindowMs)} blocking window, with the result or an activation id). ` +
            `The action may or may not have run. Check that the API host is up and answering.`,
          { short: 'no answer', cause: err },
        );
      }
      // A 502 carries the activation of an application or developer error.
      const failed = OpenWhiskRest.activationOf(err);
      if (failed) throw activationFailure(guardDepth(failed), fqn);
      throw apiFailure(err, `action '${fqn}'`, this.service.host);
    }
    if ('response' in reply) return this.settle(reply, fqn);
    // The blocking wait ended before the action did (202): poll until the activation is stored.
    return this.settle(await this.poll(ref, reply.activationId, started), fqn);
  }

  private settle(reply: Activation, fqn: string): Activation {
    const activation = guardDepth(reply);
    if (activation.response.success) return activation;
    throw activationFailure(activation, fqn);
  }

  private async poll(ref: ActionRef, activationId: string, started: number): Promise<Activation> {
    const fqn = qualifiedName(ref);
    const known = this.timeouts.get(fqn);
    const limit = known !== undefined ? Math.max(known, this.service.blockingWindowMs) + STORE_MARGIN_MS : this.opts.pollLimitMs;
    const deadline = started + limit;
    let delay = this.opts.pollStartMs;
    while (!this.closed) {
      await sleep(delay);
      try {
        return await this.service.bounded(this.service.requestMs, (b) => this.service.rest.getActivation(ref.namespace || '_', activationId, b));
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        // No answer to one poll: the next one may get through, until the deadline.
        if (status !== 404 && !(err instanceof NoAnswer)) throw apiFailure(err, `activation ${activationId} of '${fqn}'`, this.service.host);
      }
      if (Date.now() > deadline) {
        throw new OpenWhiskNodeError(
          'timeout',
          `Activation ${activationId} of '${fqn}' did not complete within ${formatSeconds(limit)}` +
            (known !== undefined ? ` (the action's time limit of ${formatSeconds(known)} plus a margin).` : '.'),
          { short: 'timeout' },
        );
      }
      delay = Math.min(delay * 2, this.opts.pollMaxMs);
    }
    throw new OpenWhiskNodeError('config', `Stopped waiting for activation ${activationId} of '${fqn}': the node was closed.`, { reason: 'closed' });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
