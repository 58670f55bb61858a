const PLAIN = /^(\d+)\.(\d+)\.(\d+)$/;

/**
 * The version after the project's latest: its highest plain `major.minor.patch` with the patch one
 * higher, or 1.0.0 for the first; never one already taken.
 */
export function nextVersion(existing: string[]): string {
  const taken = new Set(existing);
  const plain = existing.flatMap((v) => {
    const m = PLAIN.exec(v);
    return m ? [[Number(m[1]), Number(m[2]), Number(m[3])]] : [];
  });
  const highest = plain.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]).pop();
  const [major, minor] = highest ?? [1, 0];
  let patch = highest ? highest[2] + 1 : 0;
  while (taken.has(`${major}.${minor}.${patch}`)) patch++;
  return `${major}.${minor}.${patch}`;
}
