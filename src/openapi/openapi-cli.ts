import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../app.module';
import { CorralLogger } from '../common/logger';
import { readConfig } from '../config/config';
import { buildOpenApiDocument } from './openapi-document';

const USAGE = 'usage: node dist/src/openapi/openapi-cli.js [FILE]   (writes the API document to FILE, or to standard output)';

/**
 * Writes the API document without a database or a listening node: the module graph is scanned in
 * preview mode (nothing instantiated, nothing connected), which is all the document is made of.
 */
async function main(argv: string[]): Promise<number> {
  if (argv.length > 1 || argv[0]?.startsWith('-')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = readConfig();
  const logger = new CorralLogger('error', 'json', process.stderr);
  const app = await NestFactory.create(AppModule.forRoot(config, 'postgres://openapi@127.0.0.1:1/none', logger), { preview: true, logger: false, abortOnError: false });
  try {
    const text = `${JSON.stringify(buildOpenApiDocument(app, config.publicUrl), null, 2)}\n`;
    if (argv[0]) writeFileSync(argv[0], text);
    else process.stdout.write(text);
  } finally {
    await app.close();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`openapi: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
