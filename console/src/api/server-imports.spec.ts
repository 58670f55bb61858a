import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The console shares the server's types, never its code: a value import from src/ would pull the
// server's modules (and zod) into the browser bundle. Only `import type` is erased by the build.
const consoleRoot = resolve(__dirname, '../..');
const sourceRoot = join(consoleRoot, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** Each import or re-export of a module outside console/, as written. */
function importsFromOutside(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const statements = text.match(/^(?:import|export)\b[^;]*?\bfrom\s*['"][^'"]+['"]/gms) ?? [];
  return statements.filter((statement) => {
    const specifier = /['"]([^'"]+)['"]$/.exec(statement)![1];
    return specifier.startsWith('.') && relative(consoleRoot, resolve(dirname(file), specifier)).startsWith('..');
  });
}

describe('imports from the server tree', () => {
  it('are type-only, so nothing of the server reaches the browser', () => {
    const files = sourceFiles(sourceRoot);
    const outside = files.flatMap((file) => importsFromOutside(file).map((statement) => ({ file: relative(consoleRoot, file), statement })));
    expect(outside.length).toBeGreaterThan(0); // the shared types are imported from there
    expect(outside.filter(({ statement }) => !/^(?:import|export)\s+type\s/.test(statement))).toEqual([]);
  });
});
