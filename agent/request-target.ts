// What an event keeps of its request's target (InflightRequest.path, .route). The route an app's
// framework matched is a template from the app's code (`/users/:id`): always kept, where it can be
// told whole. The path can name people, orders or documents, so it is kept only with
// RESETWATCH_REQUEST_PATHS=true, and never its query string (where tokens and signatures travel)
// or fragment. Read at reset time only: nothing per request.
import type { IncomingLike } from './internal-types';

/** The longest path or route an event keeps: a line's worth (some apps put whole documents in their URLs). */
const MAX_PATH = 200;

/** RESETWATCH_REQUEST_PATHS, set when the hooks are installed (register.ts). */
let keepPaths = false;

export function keepRequestPaths(on: boolean): void {
  keepPaths = on;
}

/**
 * The path of a request target: origin-form `/a/b?q` or absolute-form `http://host/a/b?q` (a
 * forward proxy's), without the query string or fragment; undefined for targets with no path
 * (authority-form `host:port` of CONNECT, `*`).
 */
export function pathOf(target: unknown): string | undefined {
  if (typeof target !== 'string') return undefined;
  let path = target;
  if (path.charCodeAt(0) !== 47 /* / */) {
    const origin = ORIGIN.exec(path);
    if (origin === null) return undefined;
    path = path.slice(origin[0].length);
    if (path.charCodeAt(0) !== 47) return '/'; // `http://a?q=/b`: a query, no path
  }
  const end = path.search(/[?#]/);
  return cut(end < 0 ? path : path.slice(0, end));
}

/** An absolute-form target's scheme and authority (up to its path, query or fragment). */
const ORIGIN = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i;

function cut(s: string): string {
  return s.length > MAX_PATH ? `${s.slice(0, MAX_PATH - 1)}…` : s;
}

/** A client request's path (http's `req.path`, undici's `path`), when paths are kept. */
export function clientPath(target: unknown): string | undefined {
  return keepPaths ? pathOf(target) : undefined;
}

/** A server request's path as received, when paths are kept (Express rewrites `url` inside a mounted router; `originalUrl` keeps it). */
export function serverPath(req: IncomingLike): string | undefined {
  return keepPaths ? pathOf(typeof req.originalUrl === 'string' ? req.originalUrl : req.url) : undefined;
}

/**
 * Express's matched route, a string template on the app's own router (NestJS's routes are). Not in
 * a router mounted with `app.use(path, router)`: Express keeps the text the mount matched
 * (`req.baseUrl`: `/orgs/alice`), not its template (`/orgs/:org`), and the route's template alone
 * would be part of one. `req.route` stays the last route matched after the request has left it
 * (`next()` out of a mounted router: `baseUrl` and `params` are restored, the route is not), so
 * the template must still fit the request: each of its parameters in `params`, its literal
 * segments before the first pattern those of the path.
 */
export function routeOf(req: IncomingLike): string | undefined {
  const template = req.route?.path;
  if (typeof template !== 'string' || (req.baseUrl !== undefined && req.baseUrl !== '')) return undefined;
  const params = req.params;
  for (const m of template.matchAll(PARAM)) if (params == null || typeof params !== 'object' || !(m[1] in params)) return undefined;
  const path = pathOf(typeof req.originalUrl === 'string' ? req.originalUrl : req.url);
  return path === undefined || literalsFit(template, path) ? cut(template) : undefined;
}

/** A named parameter in an Express route template (`:id`, Express 4 and 5). */
const PARAM = /:([A-Za-z_$][\w$]*)/g;

/** The template's segments up to its first pattern (`:`, `*`, `{`, `(`, `?`, `+`) are the path's, case aside (Express ignores case). */
function literalsFit(template: string, path: string): boolean {
  const t = template.split('/');
  const p = path.split('/');
  for (let i = 1; i < t.length; i++) {
    if (/[:*{(?+]/.test(t[i])) return true;
    if (t[i] === '' && i === t.length - 1) return true; // a trailing slash
    if (i >= p.length || t[i].toLowerCase() !== p[i].toLowerCase()) return false;
  }
  // All literal: the path has no more segments (a trailing slash aside).
  return p.length === t.length || (p.length === t.length + 1 && p[p.length - 1] === '');
}
