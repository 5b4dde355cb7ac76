// The one parser of OpenWhisk entity names, as the platform writes them (apache/openwhisk's
// EntityPath / FullyQualifiedEntityName): "/namespace/[package/]action" is fully qualified,
// "action" and "package/action" are relative to a namespace given elsewhere.

import type { ActionRef } from './types';

export interface ParsedName {
  /** Set when the name was fully qualified (leading slash). */
  namespace?: string;
  /** "action" or "package/action". */
  name: string;
}

/** Parses an action name; undefined when it is neither "/ns/[pkg/]action" nor "[pkg/]action". */
export function parseName(text: string): ParsedName | undefined {
  const s = String(text ?? '').trim();
  const absolute = s.startsWith('/');
  const parts = s.split('/').filter((p) => p !== '');
  if (absolute) return parts.length >= 2 && parts.length <= 3 ? { namespace: parts[0], name: parts.slice(1).join('/') } : undefined;
  return parts.length >= 1 && parts.length <= 2 ? { name: parts.join('/') } : undefined;
}

/** Fully qualified "/ns/[pkg/]name" of an action reference ('_' for the key's own namespace). */
export function qualifiedName(ref: ActionRef): string {
  return `/${ref.namespace || '_'}/${ref.name}`;
}
