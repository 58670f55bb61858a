// A WebSocket frame carries one message, or several as a JSON array, in order. Both sides send
// what they have at one moment together, and accept both forms.

/** Largest frame either side packs several messages into; one larger message still goes alone. */
export const MAX_FRAME_BYTES = 512 * 1024;

/** Frames for these messages (each already JSON), in order: as few as fit under `maxBytes`. */
export function packFrames(messages: readonly string[], maxBytes = MAX_FRAME_BYTES): string[] {
  const frames: string[] = [];
  let batch: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (batch.length) frames.push(batch.length === 1 ? batch[0] : `[${batch.join(',')}]`);
    batch = [];
    bytes = 0;
  };
  for (const m of messages) {
    const size = Buffer.byteLength(m) + 1;
    if (batch.length && bytes + size > maxBytes) flush();
    batch.push(m);
    bytes += size;
  }
  flush();
  return frames;
}

/** The messages of a received frame (already parsed): an array is several, anything else is one. */
export function messagesOf(frame: unknown): unknown[] {
  return Array.isArray(frame) ? frame : [frame];
}
