/**
 * Work in flight, bounded in count and in bytes (the parameters it holds in memory): the gateway
 * API's activations in work, a runtime's messages bursting to the cloud. Nothing waits for room:
 * work that does not fit is refused at once, and its caller says so (429, *overload*).
 */
export class InFlight {
  private n = 0;
  private held = 0;

  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.n;
  }

  get bytes(): number {
    return this.held;
  }

  /** Count one more piece of work of `bytes`; false (nothing counted) when it does not fit. */
  take(bytes: number): boolean {
    if (this.n >= this.maxCount || this.held + bytes > this.maxBytes) return false;
    this.n++;
    this.held += bytes;
    return true;
  }

  /** The work taken with these `bytes` is done. */
  release(bytes: number): void {
    this.n = Math.max(0, this.n - 1);
    this.held = Math.max(0, this.held - bytes);
  }
}

/** Size of the parameters as JSON, as a request carries them; 0 when they cannot be sent (the invoke fails then). */
export function jsonBytes(v: unknown): number {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? 0 : Buffer.byteLength(s);
  } catch {
    return 0;
  }
}

/** "512 bytes", "12 KB", "63.9 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1048576) return `${Math.round(bytes / 1024)} KB`;
  return `${Math.round((bytes / 1048576) * 10) / 10} MB`;
}
