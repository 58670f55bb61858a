import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';

/**
 * Request and response constructors for `http.createServer` whose objects are born with the
 * app's prototypes. Express gives every request and response its own prototypes
 * (`Object.setPrototypeOf`) as it enters the app; V8 handles an object whose prototype changed
 * after it was made so that the young garbage around it outlives collections. Each request's
 * leftovers were promoted to the old generation, and full collections came every few seconds
 * under load, each a pause in dispatch. Made this way, Express's switch finds nothing to change.
 */
export function messageClassesOf(app: Pick<Express, 'request' | 'response'>) {
  function ExpressRequest(socket: Socket) {
    return Reflect.construct(IncomingMessage, [socket], ExpressRequest) as IncomingMessage;
  }
  ExpressRequest.prototype = app.request;
  function ExpressResponse(req: IncomingMessage, options?: object) {
    return Reflect.construct(ServerResponse, [req, options], ExpressResponse) as ServerResponse;
  }
  ExpressResponse.prototype = app.response;
  return { IncomingMessage: ExpressRequest as unknown as typeof IncomingMessage, ServerResponse: ExpressResponse as unknown as typeof ServerResponse };
}
