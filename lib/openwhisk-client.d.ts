// Types for the request layer of the `openwhisk` npm package (apache/openwhisk-client-js,
// lib/client.js), which its own typings do not describe. Its request() resolves with the parsed
// JSON body, rejects with an OpenWhiskError carrying statusCode and the error body, and passes
// its options on to needle (which honours an AbortSignal).
declare module 'openwhisk/lib/client' {
  import type openwhisk from 'openwhisk';

  interface RequestOptions {
    qs?: Record<string, string | number | boolean>;
    body?: unknown;
    signal?: AbortSignal;
    headers?: Record<string, string>;
  }

  class Client {
    constructor(options: openwhisk.Options);
    request(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, options?: RequestOptions): Promise<unknown>;
  }

  export = Client;
}
