import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Public } from '../common/actor';
import { RespondsRaw } from './openapi.decorators';
import { OpenApiService } from './openapi.service';

export const OPENAPI_DOCUMENT_PATH = '/api/v1/openapi.json';

const OpenApiDocumentSchema = z
  .looseObject({ openapi: z.literal('3.1.0'), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })
  .meta({ id: 'OpenApiDocument', description: 'An OpenAPI 3.1 document' });

@Controller()
@ApiTags('API document')
export class OpenApiController {
  constructor(private readonly openApi: OpenApiService) {}

  /** Public: it describes the routes, and holds nothing of any organisation or of the node's configuration but its public URL. */
  @Get(OPENAPI_DOCUMENT_PATH)
  @Public()
  @ApiOperation({ summary: 'This document', description: 'OpenAPI 3.1, built from the code of the node that answers.' })
  @RespondsRaw(200, { 'application/json': OpenApiDocumentSchema }, 'The API document')
  document() {
    return this.openApi.get();
  }
}
