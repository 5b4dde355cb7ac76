// The one parser of OpenWhisk entity names, as the platform writes them (apache/openwhisk's
// EntityPath / FullyQualifiedEntityName): "/namespace/[package/]action" is fully qualified,
// "action" and "package/action" are relative to a namespace given elsewhere.
//
// Every part (namespace, package, entity) follows OpenWhisk's entity-name rule, as its controller
// checks it on each path segment (its EntityName rule): a letter, digit or underscore first, then
// those, spaces, '@', '.', '&' and '-', not ending in a space, at most 256 characters. So "."
// and ".." (which a URL resolver would take as dot segments) and empty parts are never names.

import type { ActionRef } from './types';

export interface ParsedName {
  /** Set when the name was fully qualified (leading slash). */
  namespace?: string;
  /** "action" or "package/action". */
  name: string;
}

/** Longest entity name OpenWhisk accepts. */
export const ENTITY_NAME_MAX = 256;
const ENTITY_NAME = /^(?:\w|\w[\w@ .&-]*[\w@.&-])$/;

/** True when `s` is one valid OpenWhisk entity name (one part: no '/'). "_" is one (the key's own namespace). */
export function isEntityName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= ENTITY_NAME_MAX && ENTITY_NAME.test(s);
}

/** What the rule says, for messages. */
export const ENTITY_NAME_RULE =
  'each part of a name starts with a letter, digit or underscore, holds only those, spaces, "@", ".", "&" and "-", does not end with a space, and has at most 256 characters';

/** Parses an action name; undefined when it is neither "/ns/[pkg/]action" nor "[pkg/]action", or a part is not an entity name. */
export function parseName(text: string): ParsedName | undefined {
  const s = String(text ?? '').trim();
  const absolute = s.startsWith('/');
  const parts = (absolute ? s.slice(1) : s).split('/');
  if (!parts.every(isEntityName)) return undefined;
  if (absolute) return parts.length >= 2 && parts.length <= 3 ? { namespace: parts[0], name: parts.slice(1).join('/') } : undefined;
  return parts.length >= 1 && parts.length <= 2 ? { name: parts.join('/') } : undefined;
}

/** Fully qualified "/ns/[pkg/]name" of an action reference ('_' for the key's own namespace). */
export function qualifiedName(ref: ActionRef): string {
  return `/${ref.namespace || '_'}/${ref.name}`;
}
