// jsdom lacks TextEncoder and TextDecoder, which react-router uses as it loads; a spec that renders
// links imports this first. Node's are the same web API.
import { TextDecoder, TextEncoder } from 'node:util';

Object.assign(globalThis, { TextEncoder, TextDecoder });
