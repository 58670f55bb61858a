import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  requestId: string;
}

// Lets every log line of a request carry its id without threading it through every call.
export const requestContext = new AsyncLocalStorage<RequestContext>();
