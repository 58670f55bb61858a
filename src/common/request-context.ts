import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  requestId: string;
  /** Set once the request is authenticated. */
  organizationId?: string;
}

// Lets every log line of a request carry its id (and organisation) without threading them through every call.
export const requestContext = new AsyncLocalStorage<RequestContext>();
