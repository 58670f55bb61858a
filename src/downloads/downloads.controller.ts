import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { Public } from '../common/actor';
import { DomainException } from '../common/domain.exception';
import { RespondsRaw } from '../openapi/openapi.decorators';

// From dist/src/downloads/ to the checkout (or the image's /app), where `npm run build` bundles them.
const ROOT = join(__dirname, '..', '..', '..');

/** What this node hands out: the one-file programs a host or a pipeline fetches from it. */
export const DOWNLOADS: Record<string, { path: string; what: string }> = {
  'corral-agent.js': { path: join(ROOT, 'agent', 'dist', 'corral-agent.js'), what: 'the agent (runs with node ≥ 20)' },
  'corral.js': { path: join(ROOT, 'cli', 'dist', 'corral.js'), what: 'the corral CLI (runs with node ≥ 20)' },
};

@Controller('downloads')
export class DownloadsController {
  /**
   * Public: the programs hold no secret (their trust comes from enrolment and API keys), and a
   * host fetches the agent before it has any credential.
   */
  @Get(':file')
  @Public()
  @ApiOperation({ summary: 'Download the agent or the CLI', description: 'corral-agent.js (the agent) or corral.js (the CLI).' })
  @RespondsRaw(200, { 'application/javascript': z.string().describe('The program: one file that runs with node ≥ 20') }, 'The file')
  download(@Param('file') file: string, @Res() res: Response) {
    const entry = Object.hasOwn(DOWNLOADS, file) ? DOWNLOADS[file] : undefined;
    if (!entry) throw new DomainException('NOT_FOUND', `there is no download "${file}"; there are: ${Object.keys(DOWNLOADS).join(', ')}`);
    if (!existsSync(entry.path)) throw new DomainException('NOT_FOUND', `${entry.what} was not built on this node: run npm run build`);
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(entry.path, { headers: { 'Content-Type': 'application/javascript; charset=utf-8', 'Content-Disposition': `attachment; filename="${file}"` } });
  }
}
